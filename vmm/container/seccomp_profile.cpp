// Runs at build time only (berth-seccomp-gen): libseccomp turns the rules below into
// a classic BPF program, which the build compiles into berth (default_seccomp.cpp).
// `ct run` then spends no start-up time compiling (a config.json's own linux.seccomp
// is compiled by berth create: seccomp_config).
#include "vmm/container/seccomp_profile.hpp"

#include <sched.h>
#include <seccomp.h>

#include <cerrno>
#include <cstdint>
#include <memory>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/container/seccomp_export.hpp"

namespace berth::container {

namespace {

// System calls a container never needs and that reach past it: kernel modules, other
// namespaces' clocks and keys, mounts, tracing, bpf, swap, reboot.
constexpr const char* denied_syscalls[] = {
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "get_kernel_syms",
    "get_mempolicy",
    "init_module",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mbind",
    "mount",
    "mount_setattr",
    "move_mount",
    "move_pages",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "personality",
    "pivot_root",
    "process_vm_readv",
    "process_vm_writev",
    "query_module",
    "quotactl",
    "quotactl_fd",
    "reboot",
    "request_key",
    "set_mempolicy",
    "setdomainname",
    "sethostname",
    "setns",
    "settimeofday",
    "stime",
    "swapoff",
    "swapon",
    "sysfs",
    "_sysctl",
    "umount",
    "umount2",
    "uselib",
    "userfaultfd",
    "ustat",
    "vhangup",
    "vm86",
    "vm86old",
};

void add_rule(scmp_filter_ctx filter, std::uint32_t action, int syscall, const char* name,
              unsigned count = 0, scmp_arg_cmp compare = {}) {
    const int result = count == 0 ? seccomp_rule_add(filter, action, syscall, 0)
                                  : seccomp_rule_add(filter, action, syscall, count, compare);
    if (result != 0) {
        throw_errno(fmt::format("cannot add seccomp rule for {}", name), -result);
    }
}

}  // namespace

std::vector<sock_filter> compile_seccomp_filter() {
    SeccompContext filter(seccomp_init(SCMP_ACT_ALLOW), seccomp_release);
    if (!filter) {
        throw Error("cannot create a seccomp filter");
    }
    // Filter the 32-bit entry points too, or int 0x80 would walk around every rule.
    for (const std::uint32_t arch : {SCMP_ARCH_X86, SCMP_ARCH_X32}) {
        if (const int result = seccomp_arch_add(filter.get(), arch);
            result != 0 && result != -EEXIST) {
            throw_errno("cannot add an architecture to the seccomp filter", -result);
        }
    }
    // A binary tree of syscall numbers instead of a list. Loading a filter, the kernel
    // runs it for every syscall number of both native and 32-bit x86 to build its
    // allow cache, so the path length is paid ~900 times: a list made seccomp() take
    // ~0.3 ms of every container start, the tree ~0.12 ms.
    if (const int result = seccomp_attr_set(filter.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);
        result != 0) {
        throw_errno("cannot ask libseccomp for a binary-tree filter", -result);
    }
    const std::uint32_t deny = SCMP_ACT_ERRNO(EPERM);
    for (const char* name : denied_syscalls) {
        const int syscall = seccomp_syscall_resolve_name(name);
        if (syscall == __NR_SCMP_ERROR) {
            continue;  // not a system call on this architecture
        }
        add_rule(filter.get(), deny, syscall, name);
    }
    // ptrace: a process may still be traced by its parent (strace), but not attach to others.
    const int ptrace = seccomp_syscall_resolve_name("ptrace");
    add_rule(filter.get(), deny, ptrace, "ptrace", 1, SCMP_A0(SCMP_CMP_EQ, 16 /* PTRACE_ATTACH */));
    add_rule(filter.get(), deny, ptrace, "ptrace", 1,
             SCMP_A0(SCMP_CMP_EQ, 0x4206 /* PTRACE_SEIZE */));
    // clone and unshare may not make namespaces (unshare of files or fs stays allowed);
    // clone3 hides its flags in memory, so it answers "not implemented" and libc falls
    // back to clone, as with Docker. Rules for one system call are alternatives.
    constexpr int namespace_flags[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,   CLONE_NEWUSER,
                                       CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP};
    for (const char* name : {"clone", "unshare"}) {
        for (const int flag : namespace_flags) {
            const auto bit = static_cast<scmp_datum_t>(flag);
            add_rule(filter.get(), deny, seccomp_syscall_resolve_name(name), name, 1,
                     SCMP_A0(SCMP_CMP_MASKED_EQ, bit, bit));
        }
    }
    add_rule(filter.get(), SCMP_ACT_ERRNO(ENOSYS), seccomp_syscall_resolve_name("clone3"),
             "clone3");
    return export_seccomp_program(filter.get());
}

}  // namespace berth::container
