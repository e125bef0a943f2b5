#include "vmm/machine/kvm_snapshot.hpp"

#include <cstring>

#include <fmt/format.h>

#include "vmm/common/error.hpp"

namespace berth::machine {

void copy_binary(const nlohmann::json& state, const char* what, void* out, std::size_t size) {
    const auto field = state.find(what);
    if (field == state.end() || !field->is_binary()) {
        throw bad_input(fmt::format("{} is missing", what));
    }
    const auto& bytes = field->get_binary();
    if (bytes.size() != size) {
        throw bad_input(
            fmt::format("{} is {} bytes where this host's KVM has {}", what, bytes.size(), size));
    }
    std::memcpy(out, bytes.data(), size);
}

nlohmann::json save_vcpu(const kvm::Vcpu& vcpu, const std::vector<std::uint32_t>& msr_indices) {
    nlohmann::json msrs = nlohmann::json::array();
    for (const auto& entry : vcpu.readable_msrs(msr_indices)) {
        msrs.push_back({entry.index, entry.data});
    }
    return {{"regs", to_binary(vcpu.regs())},
            {"sregs", to_binary(vcpu.sregs())},
            {"xsave", to_binary(vcpu.xsave())},
            {"xcrs", to_binary(vcpu.xcrs())},
            {"lapic", to_binary(vcpu.lapic())},
            {"events", to_binary(vcpu.events())},
            {"debugregs", to_binary(vcpu.debugregs())},
            {"mp_state", vcpu.mp_state().mp_state},
            {"msrs", std::move(msrs)}};
}

void restore_vcpu(kvm::Vcpu& vcpu, const nlohmann::json& state) {
    const auto sregs = from_binary<kvm_sregs>(state, "sregs");
    const auto regs = from_binary<kvm_regs>(state, "regs");
    const auto xsave = from_binary<kvm_xsave>(state, "xsave");
    const auto xcrs = from_binary<kvm_xcrs>(state, "xcrs");
    const auto lapic = from_binary<kvm_lapic_state>(state, "lapic");
    const auto events = from_binary<kvm_vcpu_events>(state, "events");
    const auto debugregs = from_binary<kvm_debugregs>(state, "debugregs");
    std::vector<kvm_msr_entry> msrs;
    for (const auto& pair : state.at("msrs")) {
        msrs.push_back(
            kvm_msr_entry{pair.at(0).get<std::uint32_t>(), 0, pair.at(1).get<std::uint64_t>()});
    }
    kvm_mp_state mp_state{};
    mp_state.mp_state = state.at("mp_state").get<std::uint32_t>();

    vcpu.set_mp_state(mp_state);
    vcpu.set_regs(regs);
    // The special registers hold the APIC base: before the LAPIC.
    vcpu.set_sregs(sregs);
    vcpu.set_xsave(xsave);
    vcpu.set_xcrs(xcrs);
    vcpu.set_debugregs(debugregs);
    vcpu.set_lapic(lapic);
    // After the LAPIC: KVM drops a TSC-deadline write unless the LAPIC timer is in
    // TSC-deadline mode.
    vcpu.set_msrs(msrs);
    // Last: pending events refer to the state above.
    vcpu.set_events(events);
}

nlohmann::json save_platform(const kvm::Vm& vm) {
    kvm_clock_data clock = vm.clock();
    return {{"pic_master", to_binary(vm.irqchip(KVM_IRQCHIP_PIC_MASTER))},
            {"pic_slave", to_binary(vm.irqchip(KVM_IRQCHIP_PIC_SLAVE))},
            {"ioapic", to_binary(vm.irqchip(KVM_IRQCHIP_IOAPIC))},
            {"pit2", to_binary(vm.pit2())},
            {"clock_ns", clock.clock}};
}

void restore_platform(kvm::Vm& vm, const nlohmann::json& state) {
    const auto master = from_binary<kvm_irqchip>(state, "pic_master");
    const auto slave = from_binary<kvm_irqchip>(state, "pic_slave");
    const auto ioapic = from_binary<kvm_irqchip>(state, "ioapic");
    const auto pit = from_binary<kvm_pit_state2>(state, "pit2");
    if (master.chip_id != KVM_IRQCHIP_PIC_MASTER || slave.chip_id != KVM_IRQCHIP_PIC_SLAVE ||
        ioapic.chip_id != KVM_IRQCHIP_IOAPIC) {
        throw bad_input("the irqchip state names the wrong chips");
    }
    vm.set_irqchip(master);
    vm.set_irqchip(slave);
    vm.set_irqchip(ioapic);
    vm.set_pit2(pit);
    // The guest's kvm-clock goes on from where it stood: the time the VM spent saved
    // does not pass for it (as with Firecracker).
    kvm_clock_data clock{};
    clock.clock = state.at("clock_ns").get<std::uint64_t>();
    vm.set_clock(clock);
}

}  // namespace berth::machine
