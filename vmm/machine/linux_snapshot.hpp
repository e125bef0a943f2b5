#pragma once
// What a snapshot of the Linux machine (linux_vm.hpp) says the machine is, and loading
// one for `berth vm run --restore DIR`: the device list, memory size, vCPU count and
// console come from the snapshot, never from flags, so the restored machine is the one
// that was saved. Everything is checked before KVM is opened: a damaged, truncated or
// other-version state file, a memory file of the wrong size, a disk image that is
// missing or changed size is bad input naming the file and the fix.

#include <filesystem>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "vmm/common/unique_fd.hpp"
#include "vmm/machine/linux_vm.hpp"
#include "vmm/machine/working_set_file.hpp"

namespace berth::machine {

// The "machine" section of a snapshot of a VM run with `options` (the PM timer is
// there for Multiboot kernels). Bad input for a machine a snapshot cannot keep (a NIC).
nlohmann::json snapshot_machine_record(const LinuxVmOptions& options, bool pm_timer);

struct LoadedSnapshot {
    std::filesystem::path dir;
    nlohmann::json state;  // the whole state file
    UniqueFd memory;       // dir/memory, opened read-only: a restore never writes it
    bool pm_timer = false;
    // dir/working-set, read and checked when options.restore_working_set asks for it
    // and the file is there (working_set.hpp).
    std::optional<std::vector<WorkingSetRun>> working_set;
};

// Reads and checks the snapshot in `dir`, and sets `options` (cpus, memory, devices,
// console, fw_cfg files, debug exit) to the saved machine's.
LoadedSnapshot load_snapshot(const std::filesystem::path& dir, LinuxVmOptions& options);

}  // namespace berth::machine
