#pragma once
// The Linux machine's PCI side: bus 0 behind configuration mechanism #1, a window
// for BARs in the 32-bit hole, and the virtio devices the user asked for (--disk,
// --rng, --console hvc0), each a virtio-pci function with MSI-X through KVM GSI routes and irqfds
// and doorbells through ioeventfds.

#include <filesystem>
#include <memory>
#include <vector>

#include "devices/pci/pci_bus.hpp"
#include "devices/virtio/blk.hpp"
#include "devices/virtio/console.hpp"
#include "devices/virtio/pci_transport.hpp"
#include "vmm/kvm/gsi_routing.hpp"
#include "vmm/machine/buses.hpp"
#include "vmm/machine/kvm_msi_sink.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace berth::machine {

// Guest-physical window for BARs: below the IOAPIC (0xfec00000), above low RAM.
inline constexpr std::uint64_t pci_window_base = 0xe0000000;
inline constexpr std::uint64_t pci_window_size = 0x10000000;

struct PciDeviceOptions {
    std::vector<devices::virtio::DiskSpec> disks;
    bool rng = false;
    bool console = false;  // --console hvc0: a virtio-console is the guest's console

    bool any() const { return !disks.empty() || rng || console; }
};

class PciDevices {
public:
    // Opens and checks the disks (bad input throws): call before touching KVM.
    static std::vector<devices::virtio::DiskImage> open_disks(const PciDeviceOptions& options);

    // Create after the VM (the devices' ioeventfds and irqfds must go before it does).
    // `console` may be null (no virtio-console).
    PciDevices(std::vector<devices::virtio::DiskImage> disks, bool rng,
               std::shared_ptr<devices::virtio::Console> console);
    // Stops every device's worker before the MSI sinks and routes go away.
    ~PciDevices();
    PciDevices(const PciDevices&) = delete;
    PciDevices& operator=(const PciDevices&) = delete;

    // Creates the devices and attaches the PCI bus: its configuration ports to the port
    // bus, its BAR window to the MMIO bus. The VM must have its irqchip.
    void attach(const kvm::Vm& vm, memory::GuestMemory& memory, Buses& buses);

private:
    struct Function {
        std::unique_ptr<KvmMsiSink> msi;
        std::shared_ptr<devices::virtio::PciTransport> transport;
    };
    void add(const kvm::Vm& vm, memory::GuestMemory& memory,
             std::shared_ptr<devices::virtio::Device> device);

    std::vector<devices::virtio::DiskImage> images_;
    bool rng_;
    std::shared_ptr<devices::virtio::Console> console_;
    std::shared_ptr<devices::pci::PciBus> bus_;
    std::unique_ptr<kvm::GsiRouting> routing_;
    std::vector<Function> functions_;
};

}  // namespace berth::machine
