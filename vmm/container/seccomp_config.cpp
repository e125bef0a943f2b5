#include "vmm/container/seccomp_config.hpp"

#include <linux/seccomp.h>
#include <seccomp.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/container/seccomp_export.hpp"

namespace berth::container::oci {

namespace {

constexpr std::string_view base = "linux.seccomp";

[[noreturn]] void refuse(const std::string& path, std::string_view what) {
    throw bad_input(fmt::format("{}: {}", path, what));
}

// The runtime-spec's action names; errno_ret only for the two that carry a number.
std::uint32_t action_of(const std::string& name, std::optional<std::uint32_t> errno_ret,
                        const std::string& path) {
    const std::uint32_t value = errno_ret.value_or(EPERM);
    if (name == "SCMP_ACT_ALLOW") {
        return SCMP_ACT_ALLOW;
    }
    if (name == "SCMP_ACT_ERRNO") {
        return SCMP_ACT_ERRNO(value);
    }
    if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD") {
        return SCMP_ACT_KILL_THREAD;
    }
    if (name == "SCMP_ACT_KILL_PROCESS") {
        return SCMP_ACT_KILL_PROCESS;
    }
    if (name == "SCMP_ACT_TRAP") {
        return SCMP_ACT_TRAP;
    }
    if (name == "SCMP_ACT_TRACE") {
        return SCMP_ACT_TRACE(value);
    }
    if (name == "SCMP_ACT_LOG") {
        return SCMP_ACT_LOG;
    }
    if (name == "SCMP_ACT_NOTIFY") {
        refuse(path, "SCMP_ACT_NOTIFY is not supported by berth (no seccomp agent)");
    }
    refuse(path, fmt::format("{} is not a seccomp action berth knows (SCMP_ACT_ALLOW, ERRNO, "
                             "KILL, KILL_THREAD, KILL_PROCESS, TRAP, TRACE, LOG)",
                             quote(name)));
}

scmp_compare operator_of(const std::string& name, const std::string& path) {
    constexpr std::pair<std::string_view, scmp_compare> operators[] = {
        {"SCMP_CMP_NE", SCMP_CMP_NE},
        {"SCMP_CMP_LT", SCMP_CMP_LT},
        {"SCMP_CMP_LE", SCMP_CMP_LE},
        {"SCMP_CMP_EQ", SCMP_CMP_EQ},
        {"SCMP_CMP_GE", SCMP_CMP_GE},
        {"SCMP_CMP_GT", SCMP_CMP_GT},
        {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
    };
    for (const auto& [known, op] : operators) {
        if (name == known) {
            return op;
        }
    }
    refuse(path, fmt::format("{} is not a seccomp operator (SCMP_CMP_NE, LT, LE, EQ, GE, GT, "
                             "MASKED_EQ)",
                             quote(name)));
}

// "SCMP_ARCH_X86_64" -> libseccomp's token; libseccomp names them in lower case
// without the prefix ("x86_64", "aarch64").
std::uint32_t architecture_of(const std::string& name, const std::string& path) {
    std::string token = name.starts_with("SCMP_ARCH_") ? name.substr(10) : std::string();
    std::transform(token.begin(), token.end(), token.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const std::uint32_t arch = token.empty() ? 0 : seccomp_arch_resolve_name(token.c_str());
    if (arch == 0) {
        refuse(path, fmt::format("{} is not an architecture libseccomp knows", quote(name)));
    }
    return arch;
}

unsigned flag_of(const std::string& name, const std::string& path) {
    constexpr std::pair<std::string_view, unsigned> flags[] = {
        {"SECCOMP_FILTER_FLAG_TSYNC", SECCOMP_FILTER_FLAG_TSYNC},
        {"SECCOMP_FILTER_FLAG_LOG", SECCOMP_FILTER_FLAG_LOG},
        {"SECCOMP_FILTER_FLAG_SPEC_ALLOW", SECCOMP_FILTER_FLAG_SPEC_ALLOW},
    };
    for (const auto& [known, flag] : flags) {
        if (name == known) {
            return flag;
        }
    }
    refuse(path, fmt::format("{} is not a seccomp flag berth can apply "
                             "(SECCOMP_FILTER_FLAG_TSYNC, LOG, SPEC_ALLOW)",
                             quote(name)));
}

void add_rule(scmp_filter_ctx filter, std::uint32_t action, int syscall,
              const std::vector<scmp_arg_cmp>& conditions, const std::string& path,
              const std::string& name) {
    const int result =
        seccomp_rule_add_array(filter, action, syscall, static_cast<unsigned>(conditions.size()),
                               conditions.empty() ? nullptr : conditions.data());
    if (result != 0) {
        throw bad_input(errno_message(
            fmt::format("{}: libseccomp refuses the rule for {}", path, quote(name)), -result));
    }
}

}  // namespace

SeccompFilter compile_seccomp(const Seccomp& seccomp) {
    const std::string defaults(base);
    if (!seccomp.listener_path.empty()) {
        refuse(defaults + ".listenerPath", "a seccomp agent is not supported by berth");
    }
    const std::uint32_t default_action =
        action_of(seccomp.default_action, seccomp.default_errno_ret, defaults + ".defaultAction");
    SeccompContext filter(seccomp_init(default_action), seccomp_release);
    if (!filter) {
        throw Error("cannot create a seccomp filter (libseccomp)");
    }
    // berth sets no_new_privs itself, before the filter is loaded.
    seccomp_attr_set(filter.get(), SCMP_FLTATR_CTL_NNP, 0);
    // A binary tree of syscall numbers: the kernel runs the program for every number when
    // it loads it (see seccomp_profile.cpp), and a profile lists hundreds.
    seccomp_attr_set(filter.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);
    for (std::size_t i = 0; i < seccomp.architectures.size(); ++i) {
        const std::string path = fmt::format("{}.architectures[{}]", base, i);
        const std::uint32_t arch = architecture_of(seccomp.architectures[i], path);
        if (const int result = seccomp_arch_add(filter.get(), arch);
            result != 0 && result != -EEXIST) {
            throw bad_input(errno_message(
                fmt::format("{}: cannot add {}", path, quote(seccomp.architectures[i])), -result));
        }
    }
    SeccompFilter compiled;
    for (std::size_t i = 0; i < seccomp.flags.size(); ++i) {
        compiled.flags |= flag_of(seccomp.flags[i], fmt::format("{}.flags[{}]", base, i));
    }
    for (std::size_t i = 0; i < seccomp.syscalls.size(); ++i) {
        const SeccompRule& rule = seccomp.syscalls[i];
        const std::string path = fmt::format("{}.syscalls[{}]", base, i);
        const std::uint32_t action = action_of(rule.action, rule.errno_ret, path + ".action");
        std::vector<scmp_arg_cmp> conditions;
        bool repeated_index = false;
        for (std::size_t j = 0; j < rule.args.size(); ++j) {
            const SeccompArg& arg = rule.args[j];
            const scmp_compare op = operator_of(arg.op, fmt::format("{}.args[{}].op", path, j));
            // MASKED_EQ: (argument & value) == valueTwo; libseccomp takes the mask first.
            conditions.push_back(scmp_arg_cmp{arg.index, op, arg.value, arg.value_two});
            for (std::size_t k = 0; k < j; ++k) {
                repeated_index = repeated_index || rule.args[k].index == arg.index;
            }
        }
        // libseccomp refuses a rule with the default action (it would change nothing).
        if (action == default_action) {
            continue;
        }
        for (const std::string& name : rule.names) {
            const int syscall = seccomp_syscall_resolve_name(name.c_str());
            if (syscall == __NR_SCMP_ERROR) {
                continue;  // unknown to this libseccomp: skipped, as runc does
            }
            if (!repeated_index) {
                add_rule(filter.get(), action, syscall, conditions, path, name);
                continue;
            }
            // libseccomp takes one condition per argument in a rule; several on the same
            // argument become one rule each, any of which matches (as with runc).
            for (const scmp_arg_cmp& condition : conditions) {
                add_rule(filter.get(), action, syscall, {condition}, path, name);
            }
        }
    }
    compiled.program = export_seccomp_program(filter.get());
    return compiled;
}

}  // namespace berth::container::oci
