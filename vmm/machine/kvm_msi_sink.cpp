#include "vmm/machine/kvm_msi_sink.hpp"

namespace berth::machine {

KvmMsiSink::KvmMsiSink(const kvm::Vm& vm, kvm::GsiRouting& routing, std::uint16_t vectors)
    : routing_(routing) {
    vectors_.reserve(vectors);
    for (std::uint16_t i = 0; i < vectors; ++i) {
        Vector& vector = vectors_.emplace_back(Vector{routing.allocate(), EventFd(), nullptr});
        vector.irqfd = std::make_unique<kvm::IrqFd>(vm, vector.gsi, vector.event);
    }
}

void KvmMsiSink::route(std::uint16_t vector, const devices::pci::MsiMessage& message) {
    routing_.set_msi(vectors_.at(vector).gsi, message.address, message.data);
}

void KvmMsiSink::trigger(std::uint16_t vector) {
    vectors_.at(vector).event.signal();
}

}  // namespace berth::machine
