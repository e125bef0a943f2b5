#include "vmm/machine/running_vm.hpp"

#include <nlohmann/json.hpp>

#include "vmm/common/error.hpp"

namespace berth::machine {

namespace {

Error stopping(const char* what) {
    return bad_input(std::string("cannot ") + what + ": the VM is stopping");
}

}  // namespace

RunningVm::RunningVm(VmStop& stop, const std::vector<ExitStats>& stats, VmFacts facts,
                     std::function<void()> press_power_button, SaveSnapshot save)
    : stop_(stop),
      stats_(stats),
      facts_(std::move(facts)),
      press_power_button_(std::move(press_power_button)),
      save_(std::move(save)) {}

nlohmann::json RunningVm::info() {
    const auto uptime = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started_);
    const char* state = stop_.requested() ? "stopping" : stop_.paused() ? "paused" : "running";
    return {{"state", state},
            {"vcpus", facts_.vcpus},
            {"memory_bytes", facts_.memory_bytes},
            {"uptime_ms", uptime.count()},
            {"devices", facts_.devices}};
}

void RunningVm::pause() {
    const std::lock_guard lock(mutex_);
    if (stop_.requested()) {
        throw stopping("pause");
    }
    if (!stop_.pause()) {
        throw bad_input("cannot pause: the VM is paused already");
    }
}

void RunningVm::resume() {
    const std::lock_guard lock(mutex_);
    if (stop_.requested()) {
        throw stopping("resume");
    }
    if (!stop_.resume()) {
        throw bad_input("cannot resume: the VM is not paused");
    }
}

void RunningVm::shutdown() {
    const std::lock_guard lock(mutex_);
    if (stop_.requested()) {
        throw stopping("shut down");
    }
    // A paused guest finds the interrupt pending in its IOAPIC when it resumes.
    press_power_button_();
}

void RunningVm::stop() {
    stop_.request(0);
}

nlohmann::json RunningVm::stats() {
    const std::lock_guard lock(mutex_);
    ExitStats total;
    stop_.with_vcpus_parked([&] {
        // A stop may have ended the wait for the vCPUs before all of them parked: the
        // others may still be counting their last exit.
        if (stop_.requested()) {
            throw stopping("read statistics");
        }
        for (const auto& one : stats_) {
            total.merge(one);
        }
    });
    return total.json();
}

void RunningVm::snapshot(const std::filesystem::path& dir) {
    const std::lock_guard lock(mutex_);
    if (!save_) {
        throw bad_input("cannot snapshot: this machine has no snapshot support");
    }
    if (stop_.requested()) {
        throw stopping("snapshot");
    }
    // Paused here it stays paused afterwards, as Firecracker's VMs do: the caller
    // resumes it (PUT /vm/resume) or stops it. A snapshot that fails (a directory that
    // is not empty, a disk full) leaves the VM as it found it.
    const bool paused_here = stop_.pause();
    try {
        if (stop_.requested()) {
            throw stopping("snapshot");
        }
        save_(dir);
    } catch (const Error& e) {
        if (paused_here) {
            stop_.resume();
        }
        if (e.status() == ExitStatus::bad_input) {
            throw e.with_context("cannot snapshot");
        }
        throw e.with_context("cannot snapshot into " + dir.string());
    }
}

}  // namespace berth::machine
