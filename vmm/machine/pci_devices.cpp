#include "vmm/machine/pci_devices.hpp"

#include <fmt/format.h>

#include "devices/virtio/rng.hpp"
#include "vmm/kvm/eventfd_bindings.hpp"

namespace berth::machine {

std::vector<devices::virtio::DiskImage> PciDevices::open_disks(const PciDeviceOptions& options) {
    std::vector<devices::virtio::DiskImage> images;
    for (const auto& disk : options.disks) {
        images.push_back(devices::virtio::DiskImage::open(disk.path, disk.access));
    }
    return images;
}

PciDevices::PciDevices(std::vector<devices::virtio::DiskImage> disks, bool rng,
                       std::shared_ptr<devices::virtio::Console> console)
    : images_(std::move(disks)), rng_(rng), console_(std::move(console)) {}

PciDevices::~PciDevices() {
    for (auto& function : functions_) {
        function.transport->stop();
    }
}

void PciDevices::attach(const kvm::Vm& vm, memory::GuestMemory& memory, Buses& buses) {
    bus_ = std::make_shared<devices::pci::PciBus>(pci_window_base, pci_window_size);
    routing_ = std::make_unique<kvm::GsiRouting>(vm);
    buses.ports.attach(devices::pci::config_address_port, devices::pci::config_port_count, bus_);
    buses.mmio.attach(pci_window_base, pci_window_size, bus_);
    for (std::size_t i = 0; i < images_.size(); ++i) {
        // vda, vdb, ...: the serial is what /sys/block/vdX/serial shows.
        add(vm, memory,
            std::make_shared<devices::virtio::Blk>(std::move(images_[i]),
                                                   fmt::format("berth-disk-{}", i)));
    }
    images_.clear();
    if (rng_) {
        add(vm, memory, std::make_shared<devices::virtio::Rng>());
    }
    if (console_) {
        add(vm, memory, console_);
    }
}

void PciDevices::add(const kvm::Vm& vm, memory::GuestMemory& memory,
                     std::shared_ptr<devices::virtio::Device> device) {
    Function function;
    function.msi = std::make_unique<KvmMsiSink>(
        vm, *routing_, devices::virtio::PciTransport::msix_vectors(device->queue_count()));
    const std::uint64_t bar = bus_->allocate_bar(devices::virtio::bar_size);
    devices::virtio::IoEventRegistrar registrar = [&vm](std::uint64_t address, std::uint32_t length,
                                                        const EventFd& event) {
        return std::static_pointer_cast<void>(
            std::make_shared<kvm::IoEventFd>(vm, address, length, event));
    };
    function.transport = std::make_shared<devices::virtio::PciTransport>(
        memory, std::move(device), bar, *function.msi, registrar);
    bus_->add(function.transport);
    functions_.push_back(std::move(function));
}

}  // namespace berth::machine
