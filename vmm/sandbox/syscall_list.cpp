// Build time and tests only (see syscall_list.hpp): libseccomp turns a list into BPF.
#include "vmm/sandbox/syscall_list.hpp"

// <linux/vhost.h> pulls in <linux/virtio_ring.h>, whose legacy helpers are C only.
#define VIRTIO_RING_NO_LEGACY
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/vhost.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <memory>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/unique_fd.hpp"
// <linux/kvm.h> as the KVM code sees it: request numbers encode struct sizes.
#include "vmm/kvm/kvm_abi.hpp"

namespace berth::sandbox {

namespace {

struct NamedConstant {
    std::string_view name;
    std::uint64_t value;
};

// The names lists may use: the ioctl requests berth's threads make at run time, and the
// flags their argument conditions test.
constexpr NamedConstant constants[] = {
    {"KVM_RUN", KVM_RUN},
    {"KVM_GET_REGS", KVM_GET_REGS},
    {"KVM_GET_SREGS", KVM_GET_SREGS},
    {"KVM_IRQ_LINE", KVM_IRQ_LINE},
    {"KVM_SET_GSI_ROUTING", KVM_SET_GSI_ROUTING},
    {"KVM_IOEVENTFD", KVM_IOEVENTFD},
    {"KVM_IRQFD", KVM_IRQFD},
    // A snapshot (the API thread) reads every vCPU's and the VM's state.
    {"KVM_GET_FPU", KVM_GET_FPU},
    {"KVM_GET_XSAVE", KVM_GET_XSAVE},
    {"KVM_GET_XCRS", KVM_GET_XCRS},
    {"KVM_GET_MSRS", KVM_GET_MSRS},
    {"KVM_GET_MSR_INDEX_LIST", KVM_GET_MSR_INDEX_LIST},
    {"KVM_GET_LAPIC", KVM_GET_LAPIC},
    {"KVM_GET_VCPU_EVENTS", KVM_GET_VCPU_EVENTS},
    {"KVM_GET_DEBUGREGS", KVM_GET_DEBUGREGS},
    {"KVM_GET_MP_STATE", KVM_GET_MP_STATE},
    {"KVM_GET_IRQCHIP", KVM_GET_IRQCHIP},
    {"KVM_GET_PIT2", KVM_GET_PIT2},
    {"KVM_GET_CLOCK", KVM_GET_CLOCK},
    // A tap NIC's offloads follow what the guest's driver accepted (vCPU thread).
    {"TUNSETOFFLOAD", TUNSETOFFLOAD},
    // vhost=on: the kernel's rings set up at DRIVER_OK and stopped on reset (vCPU
    // thread) or at the end (main thread).
    {"VHOST_SET_FEATURES", VHOST_SET_FEATURES},
    {"VHOST_SET_MEM_TABLE", VHOST_SET_MEM_TABLE},
    {"VHOST_SET_VRING_NUM", VHOST_SET_VRING_NUM},
    {"VHOST_SET_VRING_BASE", VHOST_SET_VRING_BASE},
    {"VHOST_GET_VRING_BASE", VHOST_GET_VRING_BASE},
    {"VHOST_SET_VRING_ADDR", VHOST_SET_VRING_ADDR},
    {"VHOST_SET_VRING_KICK", VHOST_SET_VRING_KICK},
    {"VHOST_SET_VRING_CALL", VHOST_SET_VRING_CALL},
    {"VHOST_NET_SET_BACKEND", VHOST_NET_SET_BACKEND},
    {"TCGETS", TCGETS},
    {"TCSETS", TCSETS},
    {"TCSETSW", TCSETSW},
    {"TCSETSF", TCSETSF},
    {"FIONBIO", FIONBIO},
    {"FIONREAD", FIONREAD},
    {"FIOCLEX", FIOCLEX},
    {"PR_SET_NAME", PR_SET_NAME},
    {"PROT_EXEC", PROT_EXEC},
    {"O_ACCMODE", O_ACCMODE},
    {"O_CREAT", O_CREAT},
    {"O_TRUNC", O_TRUNC},
    {"AF_UNIX", AF_UNIX},
    {"AF_INET", AF_INET},
    {"AF_INET6", AF_INET6},
    {"AF_NETLINK", AF_NETLINK},
};

std::string_view trim(std::string_view text) {
    const auto first = text.find_first_not_of(" \t\r");
    if (first == std::string_view::npos) {
        return {};
    }
    return text.substr(first, text.find_last_not_of(" \t\r") - first + 1);
}

std::vector<std::string_view> words_of(std::string_view line) {
    std::vector<std::string_view> words;
    while (!(line = trim(line)).empty()) {
        const auto end = line.find_first_of(" \t");
        words.push_back(line.substr(0, end));
        line = end == std::string_view::npos ? std::string_view{} : line.substr(end);
    }
    return words;
}

// VALUE: numbers and constant names joined by '|'.
std::uint64_t value_of(std::string_view text, const std::string& where) {
    std::uint64_t result = 0;
    while (!text.empty()) {
        const auto bar = text.find('|');
        const std::string_view part = text.substr(0, bar);
        text = bar == std::string_view::npos ? std::string_view{} : text.substr(bar + 1);
        std::uint64_t value = 0;
        bool known = false;
        for (const auto& constant : constants) {
            if (constant.name == part) {
                value = constant.value;
                known = true;
            }
        }
        if (!known) {
            const bool hex = part.starts_with("0x");
            const std::string_view digits = hex ? part.substr(2) : part;
            const auto [end, error] =
                std::from_chars(digits.data(), digits.data() + digits.size(), value, hex ? 16 : 10);
            if (digits.empty() || error != std::errc{} || end != digits.data() + digits.size()) {
                throw Error(fmt::format("{}: {} is neither a number nor a known constant", where,
                                        part.empty() ? "''" : std::string(part)));
            }
        }
        result |= value;
    }
    return result;
}

}  // namespace

std::vector<SyscallRule> parse_syscall_list(std::string_view text, std::string_view origin) {
    std::vector<SyscallRule> rules;
    unsigned number = 0;
    while (!text.empty()) {
        const auto newline = text.find('\n');
        std::string_view line = text.substr(0, newline);
        text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
        ++number;
        line = line.substr(0, line.find('#'));
        const auto words = words_of(line);
        if (words.empty()) {
            continue;
        }
        const std::string where = fmt::format("{}:{}", origin, number);
        SyscallRule rule{std::string(words[0]), std::nullopt};
        if (seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64, rule.name.c_str()) < 0) {
            throw Error(fmt::format("{}: {} is not an x86-64 system call", where, rule.name));
        }
        if (words.size() > 1) {
            const bool masked = words.size() == 6 && words[2] == "&" && words[4] == "==";
            const bool equal = words.size() == 4 && words[2] == "==";
            const std::string_view argument = words[1];
            if ((!masked && !equal) || argument.size() != 4 || !argument.starts_with("arg") ||
                argument[3] < '0' || argument[3] > '5') {
                throw Error(fmt::format(
                    "{}: expected NAME, NAME argN == VALUE or NAME argN & MASK == VALUE", where));
            }
            SyscallRule::Condition condition;
            condition.argument = static_cast<unsigned>(argument[3] - '0');
            if (masked) {
                condition.mask = value_of(words[3], where);
            }
            condition.value = value_of(words.back(), where);
            rule.condition = condition;
        }
        rules.push_back(std::move(rule));
    }
    return rules;
}

std::vector<sock_filter> compile_syscall_list(const std::vector<SyscallRule>& rules) {
    using FilterContext = std::unique_ptr<void, decltype(&seccomp_release)>;
    FilterContext filter(seccomp_init(SCMP_ACT_TRAP), seccomp_release);
    if (!filter) {
        throw Error("cannot create a seccomp filter");
    }
    // A call through another architecture's entry point (int 0x80) traps too, rather
    // than killing the thread without a word.
    if (const int result = seccomp_attr_set(filter.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_TRAP);
        result != 0) {
        throw_errno("cannot set the seccomp filter's action for other architectures", -result);
    }
    // A binary tree: ~60 calls per list, and the kernel runs the filter on every call.
    if (const int result = seccomp_attr_set(filter.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);
        result != 0) {
        throw_errno("cannot ask libseccomp for a binary-tree filter", -result);
    }
    for (const auto& rule : rules) {
        const int syscall = seccomp_syscall_resolve_name(rule.name.c_str());
        int result = 0;
        if (!rule.condition) {
            result = seccomp_rule_add(filter.get(), SCMP_ACT_ALLOW, syscall, 0);
        } else {
            const auto& c = *rule.condition;
            const scmp_arg_cmp compare =
                c.mask == ~std::uint64_t{0}
                    ? scmp_arg_cmp{c.argument, SCMP_CMP_EQ, c.value, 0}
                    : scmp_arg_cmp{c.argument, SCMP_CMP_MASKED_EQ, c.mask, c.value};
            result = seccomp_rule_add(filter.get(), SCMP_ACT_ALLOW, syscall, 1, compare);
        }
        if (result != 0) {
            throw_errno(fmt::format("cannot add the seccomp rule for {}", rule.name), -result);
        }
    }
    // libseccomp 2.5 exports only to a file descriptor: an anonymous memory file.
    UniqueFd memory(::memfd_create("berth-seccomp", MFD_CLOEXEC));
    if (!memory) {
        throw_errno("cannot create a memfd for the seccomp program", errno);
    }
    if (const int result = seccomp_export_bpf(filter.get(), memory.get()); result != 0) {
        throw_errno("cannot export the seccomp program", -result);
    }
    const off_t size = ::lseek(memory.get(), 0, SEEK_CUR);
    std::vector<sock_filter> program(static_cast<std::size_t>(size) / sizeof(sock_filter));
    const auto bytes = static_cast<ssize_t>(program.size() * sizeof(sock_filter));
    if (size <= 0 ||
        ::pread(memory.get(), program.data(), static_cast<std::size_t>(bytes), 0) != bytes) {
        throw Error("cannot read back the compiled seccomp program");
    }
    return program;
}

std::string syscall_name_of(int number) {
    char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, number);
    if (name == nullptr) {
        return {};
    }
    std::string result(name);
    std::free(name);
    return result;
}

}  // namespace berth::sandbox
