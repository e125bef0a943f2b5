#pragma once
// The command line's link in a VM error's chain. Inputs are checked before a guest
// runs (docs/architecture.md, "Inputs first"), so bad input always means the VM did
// not start, and says so in front: "cannot start VM: disk 0 (x.img): cannot open: ...".
// Failures of the host or the guest name their own subject (KVM, the guest and its
// registers) and pass through as they are.

#include <string>
#include <utility>

#include "vmm/common/error.hpp"

namespace berth::cli {

// Runs `run` (a machine's run function) and returns its exit status.
template <typename Run>
int run_vm(const std::string& what, Run&& run) {
    try {
        return std::forward<Run>(run)();
    } catch (const Error& e) {
        if (e.status() != ExitStatus::bad_input) {
            throw;
        }
        throw e.with_context("cannot start " + what);
    }
}

}  // namespace berth::cli
