#pragma once
// The Linux machine's PCI side: bus 0 behind configuration mechanism #1, a window
// for BARs in the 32-bit hole, and the virtio devices the guest is given (--disk,
// --rng, --console hvc0), each a virtio-pci function with MSI-X through KVM GSI routes
// and irqfds and doorbells through ioeventfds. The set is built from a list of device
// specs (virtio_device_spec.hpp) and knows no device kind.

#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "devices/pci/pci_bus.hpp"
#include "devices/virtio/device.hpp"
#include "devices/virtio/pci_transport.hpp"
#include "vmm/kvm/gsi_routing.hpp"
#include "vmm/machine/buses.hpp"
#include "vmm/machine/kvm_msi_sink.hpp"
#include "vmm/machine/virtio_device_spec.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace berth::machine {

// The guest's console: COM1, or a virtio-console (--console hvc0) on PCI.
enum class GuestConsole { serial, virtio };

struct PciDeviceOptions {
    VirtioDeviceSpecs devices;  // --disk, --rng (and --image's disk), in slot order
    GuestConsole console = GuestConsole::serial;
};

// Opens every spec's host side and makes its device, in list order (bad input
// throws): call before touching KVM.
std::vector<std::shared_ptr<devices::virtio::Device>> open_virtio_devices(
    const VirtioDeviceSpecs& specs);

class PciDevices {
public:
    // `devices` in slot order: the opened specs, then any the machine made itself (the
    // virtio-console, which it also feeds input). Create after the VM: the devices'
    // ioeventfds and irqfds must go before it does.
    explicit PciDevices(std::vector<std::shared_ptr<devices::virtio::Device>> devices);
    // Stops every device's worker before the MSI sinks and routes go away.
    ~PciDevices();
    PciDevices(const PciDevices&) = delete;
    PciDevices& operator=(const PciDevices&) = delete;

    // Attaches the PCI bus (its configuration ports to the port bus, its BAR window to
    // the MMIO bus) and every device. The VM must have its irqchip.
    void attach(const kvm::Vm& vm, memory::GuestMemory& memory, Buses& buses);

    // Snapshots, with the vCPUs parked: pause_workers() lets every device finish the
    // request it serves and stops it (nothing is in flight after it), save() reads the
    // bus and every function, resume_workers() lets the devices run again. restore()
    // is for a machine attached with the same device list, before its vCPUs run.
    void pause_workers();
    void resume_workers();
    nlohmann::json save();
    void restore(const nlohmann::json& state);
    // After restore() and the vCPUs' and platform's state: devices may interrupt the
    // guest (virtio-net announces its address through its new host side).
    void restored();

private:
    struct Function {
        std::unique_ptr<KvmMsiSink> msi;
        std::shared_ptr<devices::virtio::PciTransport> transport;
    };
    void attach_one(const kvm::Vm& vm, memory::GuestMemory& memory,
                    std::shared_ptr<devices::virtio::Device> device);

    std::vector<std::shared_ptr<devices::virtio::Device>> devices_;  // until attach()
    std::shared_ptr<devices::pci::PciBus> bus_;
    std::unique_ptr<kvm::GsiRouting> routing_;
    std::vector<Function> functions_;
};

// Each spec's number within its kind, in list order ({disk, rng, disk} -> {0, 0, 1}).
std::vector<unsigned> index_within_kind(const VirtioDeviceSpecs& specs);

}  // namespace berth::machine
