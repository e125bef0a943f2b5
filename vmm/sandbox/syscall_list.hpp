#pragma once
// A thread kind's seccomp allow-list (vmm/sandbox/lists/KIND.seccomp) read and compiled
// by libseccomp. Build time and tests only: berth-vmm-seccomp-gen turns every list into
// a classic BPF program compiled into berth, so berth neither links libseccomp nor
// spends its start-up compiling filters.
//
// The format, one rule a line ('#' starts a comment):
//   NAME                          allow the system call NAME
//   NAME argN == VALUE            allow it when argument N (0-5) equals VALUE
//   NAME argN & MASK == VALUE     allow it when argument N masked with MASK equals VALUE
// Several lines for one NAME allow it when any of them matches. VALUE and MASK are
// numbers (0x.. for hex) or names from the table in syscall_list.cpp (KVM_RUN,
// PROT_EXEC, O_CREAT ...), joined by '|'. Anything not allowed traps (SIGSYS).

#include <linux/filter.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::sandbox {

struct SyscallRule {
    std::string name;
    struct Condition {
        unsigned argument = 0;
        std::uint64_t mask = ~std::uint64_t{0};
        std::uint64_t value = 0;
    };
    std::optional<Condition> condition;
};

// Parses a list's text; `origin` names it in errors ("lists/vcpu.seccomp:12: ...").
std::vector<SyscallRule> parse_syscall_list(std::string_view text, std::string_view origin);

// Compiles `rules` for x86-64: allowed calls pass, everything else (other
// architectures' entry points included) raises SIGSYS.
std::vector<sock_filter> compile_syscall_list(const std::vector<SyscallRule>& rules);

// The x86-64 system call's name, or "" when libseccomp knows none for `number`.
std::string syscall_name_of(int number);

}  // namespace berth::sandbox
