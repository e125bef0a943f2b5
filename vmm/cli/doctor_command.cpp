// `berth doctor`: one line per thing berth needs from the host, OK or MISSING with
// what to do about it.

#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "vmm/cli/command.hpp"
#include "vmm/common/error.hpp"
#include "vmm/container/cgroup_layout.hpp"
#include "vmm/container/namespace_probe.hpp"
#include "vmm/kvm/system.hpp"
#include "vmm/kvm/vm.hpp"

namespace berth::cli {

namespace {

struct Check {
    bool ok;
    std::string subject;
    std::string detail;
};

void print(const Check& check) {
    fmt::print("{:<8}{}: {}\n", check.ok ? "OK" : "MISSING", check.subject, check.detail);
}

std::vector<Check> kvm_checks() {
    std::vector<Check> checks;
    try {
        const auto kvm = kvm::System::open();
        // Opening is not enough: some hosts expose /dev/kvm but refuse to create VMs.
        kvm.create_vm();
        if (kvm::host_kvm_is_pvm()) {
            // Usable for our real-mode firmware, but not for what berth is for.
            checks.push_back({false, "/dev/kvm", kvm::pvm_cannot_boot_linux_message()});
            return checks;
        }
        checks.push_back({true, "/dev/kvm", "usable"});
        checks.push_back({true, "KVM API", fmt::format("version {}", kvm.api_version())});
        std::vector<std::string> present;
        for (const auto& cap : kvm::key_capabilities()) {
            if (kvm.check_extension(cap.capability) > 0) {
                present.emplace_back(cap.name);
            } else {
                checks.push_back({false, fmt::format("KVM capability {}", cap.name),
                                  fmt::format("absent; needed for {}; use a newer host kernel",
                                              cap.needed_for)});
            }
        }
        checks.push_back({true, "KVM capabilities", fmt::format("{}", fmt::join(present, ", "))});
    } catch (const Error& e) {
        checks.push_back({false, "/dev/kvm", e.what()});
    }
    return checks;
}

Check cgroup_check() {
    const auto layout = container::host_cgroup_layout();
    const bool ok = layout.kind() != container::CgroupLayout::Kind::none;
    return {
        ok, "cgroups",
        ok ? layout.describe() : "no cgroup filesystem mounted; mount cgroup2 on /sys/fs/cgroup"};
}

Check namespace_check() {
    std::vector<std::string> usable;
    std::vector<std::string> refused;
    for (const auto& probe : container::probe_namespaces()) {
        if (probe.error == 0) {
            usable.push_back(probe.name);
        } else {
            refused.push_back(fmt::format("{} ({})", probe.name, std::strerror(probe.error)));
        }
    }
    if (refused.empty()) {
        return {true, "namespaces", fmt::format("can create {}", fmt::join(usable, ", "))};
    }
    return {false, "namespaces",
            fmt::format("cannot create {}; run as root or allow unprivileged user namespaces "
                        "(sysctl kernel.unprivileged_userns_clone=1)",
                        fmt::join(refused, ", "))};
}

int run_doctor() {
    std::vector<Check> checks = kvm_checks();
    checks.push_back(cgroup_check());
    checks.push_back(namespace_check());
    bool all_ok = true;
    for (const auto& check : checks) {
        print(check);
        all_ok = all_ok && check.ok;
    }
    return all_ok ? 0 : 1;
}

}  // namespace

void add_doctor_command(CLI::App& app, Action& action) {
    auto* doctor =
        app.add_subcommand("doctor",
                           "Check what this host offers berth: KVM, cgroups, namespaces (exit 1 if "
                           "something is missing)");
    doctor->callback([&action] { action = run_doctor; });
}

}  // namespace berth::cli
