#pragma once
// What berth's control API (api_server) asks of a running VM. The machine implements
// it (vmm/machine/running_vm); the API knows no machine. Each call runs on one of the
// API server's threads, never on a vCPU's.
//
// A request the VM cannot do in its state (pause a paused VM) throws a bad_input
// berth::Error, which the API answers with 400; any other Error is a 500.

#include <filesystem>

#include <nlohmann/json.hpp>

namespace berth::api {

class VmController {
public:
    virtual ~VmController() = default;
    // {"state": "running"|"paused"|"stopping", "vcpus", "memory_bytes", "uptime_ms",
    // "devices": [names]} (docs/api/openapi.yaml, VmInfo).
    virtual nlohmann::json info() = 0;
    // Parks every vCPU outside KVM_RUN; returns once all are parked.
    virtual void pause() = 0;
    virtual void resume() = 0;
    // Presses the guest's ACPI power button and returns: the guest's OS decides what
    // to do (a Linux with a power-key handler powers off, and berth exits 0).
    virtual void shutdown() = 0;
    // Ends the VM at once, as a power cut would; berth exits with status 0.
    virtual void stop() = 0;
    // VM exits by reason and by device (docs/api/openapi.yaml, VmStats).
    virtual nlohmann::json stats() = 0;
    // Pauses the VM (if it runs), saves it into `dir` (a new or empty directory; see
    // docs/snapshots.md) and leaves it paused. Bad input: a directory that is not empty
    // or not writable, a machine with a device a snapshot cannot keep.
    virtual void snapshot(const std::filesystem::path& dir) = 0;
};

}  // namespace berth::api
