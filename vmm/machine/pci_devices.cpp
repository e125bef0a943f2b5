#include "vmm/machine/pci_devices.hpp"

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/machine/device_snapshot.hpp"

#include "vmm/kvm/eventfd_bindings.hpp"
#include "vmm/memory/platform_layout.hpp"

namespace berth::machine {

std::vector<unsigned> index_within_kind(const VirtioDeviceSpecs& specs) {
    std::vector<unsigned> indices;
    indices.reserve(specs.size());
    for (std::size_t i = 0; i < specs.size(); ++i) {
        unsigned same_kind_before = 0;
        for (std::size_t j = 0; j < i; ++j) {
            same_kind_before += specs[j]->kind() == specs[i]->kind() ? 1 : 0;
        }
        indices.push_back(same_kind_before);
    }
    return indices;
}

std::vector<std::shared_ptr<devices::virtio::Device>> open_virtio_devices(
    const VirtioDeviceSpecs& specs) {
    const auto indices = index_within_kind(specs);
    std::vector<std::shared_ptr<devices::virtio::Device>> devices;
    devices.reserve(specs.size());
    for (std::size_t i = 0; i < specs.size(); ++i) {
        devices.push_back(specs[i]->open(indices[i]));
    }
    return devices;
}

PciDevices::PciDevices(std::vector<std::shared_ptr<devices::virtio::Device>> devices)
    : devices_(std::move(devices)) {}

PciDevices::~PciDevices() {
    for (auto& function : functions_) {
        function.transport->stop();
    }
}

void PciDevices::attach(const kvm::Vm& vm, memory::GuestMemory& memory, Buses& buses) {
    bus_ = std::make_shared<devices::pci::PciBus>(layout::pci_window_base, layout::pci_window_size);
    routing_ = std::make_unique<kvm::GsiRouting>(vm);
    buses.ports.attach(layout::pci_config_port, devices::pci::config_port_count, bus_);
    buses.mmio.attach(layout::pci_window_base, layout::pci_window_size, bus_);
    for (auto& device : devices_) {
        attach_one(vm, memory, std::move(device));
    }
    devices_.clear();
}

void PciDevices::attach_one(const kvm::Vm& vm, memory::GuestMemory& memory,
                            std::shared_ptr<devices::virtio::Device> device) {
    Function function;
    function.msi = std::make_unique<KvmMsiSink>(
        vm, *routing_, devices::virtio::PciTransport::msix_vectors(*device));
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

void PciDevices::pause_workers() {
    for (auto& function : functions_) {
        function.transport->pause_worker();
    }
}

void PciDevices::resume_workers() {
    for (auto& function : functions_) {
        function.transport->resume_worker();
    }
}

void PciDevices::restored() {
    for (auto& function : functions_) {
        function.transport->restored();
    }
}

nlohmann::json PciDevices::save() {
    nlohmann::json functions = nlohmann::json::array();
    for (auto& function : functions_) {
        auto state = to_json(function.transport->state());
        state["name"] = function.transport->name();
        functions.push_back(std::move(state));
    }
    return {{"config_address", bus_->config_address()},
            {"host_bridge", config_to_json(bus_->function(0)->config().bytes())},
            {"functions", std::move(functions)}};
}

void PciDevices::restore(const nlohmann::json& state) {
    const auto& functions = state.at("functions");
    if (functions.size() != functions_.size()) {
        throw bad_input(fmt::format("the snapshot has {} PCI devices, the machine {}",
                                    functions.size(), functions_.size()));
    }
    bus_->set_config_address(state.at("config_address").get<std::uint32_t>());
    bus_->function(0)->config().restore_bytes(config_bytes(state.at("host_bridge")));
    for (std::size_t i = 0; i < functions_.size(); ++i) {
        auto& transport = *functions_[i].transport;
        if (functions[i].at("name").get<std::string>() != transport.name()) {
            throw bad_input(fmt::format("PCI device {} is {} in the snapshot, {} in the machine", i,
                                        functions[i].at("name").get<std::string>(),
                                        transport.name()));
        }
        try {
            transport.restore(transport_state(functions[i]));
        } catch (const Error& e) {
            throw bad_input(e.what());
        }
    }
}

}  // namespace berth::machine
