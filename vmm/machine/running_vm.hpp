#pragma once
// The control API's view of a running multi-vCPU machine (api::VmController, for
// berth vm run --api-socket): its state, pause and resume (VmStop's parking), the
// ACPI power button, a hard stop, and its exit statistics, read while every vCPU is parked so that
// the vCPU threads keep counting without locks.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "vmm/api/vm_controller.hpp"
#include "vmm/machine/exit_stats.hpp"
#include "vmm/machine/vm_stop.hpp"

namespace berth::machine {

// What does not change while the VM runs.
struct VmFacts {
    std::uint32_t vcpus = 0;
    std::uint64_t memory_bytes = 0;
    std::vector<std::string> devices;  // names, as traces and --trace-exits show them
};

// Saves the machine into a snapshot directory; called with every vCPU parked.
using SaveSnapshot = std::function<void(const std::filesystem::path& dir)>;

class RunningVm final : public api::VmController {
public:
    // `stats`: one per vCPU, written by its thread; `press_power_button` interrupts
    // the guest through its ACPI power button (x86::AcpiDevices::power_button_gsi).
    RunningVm(VmStop& stop, const std::vector<ExitStats>& stats, VmFacts facts,
              std::function<void()> press_power_button, SaveSnapshot save = {});

    nlohmann::json info() override;
    void pause() override;
    void resume() override;
    void shutdown() override;
    void stop() override;
    nlohmann::json stats() override;
    void snapshot(const std::filesystem::path& dir) override;

private:
    VmStop& stop_;
    const std::vector<ExitStats>& stats_;
    const VmFacts facts_;
    const std::function<void()> press_power_button_;
    const SaveSnapshot save_;
    const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
    std::mutex mutex_;  // one request at a time changes or reads the vCPUs' state
};

}  // namespace berth::machine
