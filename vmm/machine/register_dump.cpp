#include "vmm/machine/register_dump.hpp"

#include <fmt/format.h>

namespace berth::machine {

std::string register_dump(const kvm::Vcpu& vcpu) {
    try {
        const kvm_regs r = vcpu.regs();
        const kvm_sregs s = vcpu.sregs();
        return fmt::format(
            "  rip={:016x} rsp={:016x} rflags={:08x}\n"
            "  rax={:016x} rbx={:016x} rcx={:016x} rdx={:016x}\n"
            "  rsi={:016x} rdi={:016x} rbp={:016x}\n"
            "  cs={:04x} base={:x} ds={:04x} ss={:04x}\n"
            "  cr0={:08x} cr2={:016x} cr3={:016x} cr4={:08x} efer={:x}\n",
            r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, s.cs.selector,
            s.cs.base, s.ds.selector, s.ss.selector, s.cr0, s.cr2, s.cr3, s.cr4, s.efer);
    } catch (const std::exception& e) {
        return fmt::format("  (registers unavailable: {})\n", e.what());
    }
}

}  // namespace berth::machine
