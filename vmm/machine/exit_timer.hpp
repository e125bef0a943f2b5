#pragma once
// Timing and tracing of VM exits, for every machine (one vCPU thread or several).
// One ExitTiming per machine; each vCPU loop makes an ExitTimer right after
// KVM_RUN returns, and its destructor — when the exit's handling is over, however it
// ends (break, or a throw for a dead guest) — adds the time to that vCPU's ExitStats
// and writes the trace event. With neither a trace nor --trace-exits asked for, the
// clock is never read.

#include <cstdint>
#include <memory>

#include "vmm/kvm/kvm_abi.hpp"
#include "vmm/machine/buses.hpp"
#include "vmm/machine/exit_stats.hpp"
#include "vmm/machine/exit_trace.hpp"

namespace berth::machine {

struct ExitTiming {
    ExitClock clock;
    std::unique_ptr<ExitTraceWriter> trace;  // null: no --trace file
    bool timed = false;                      // a trace or the --trace-exits table wants times
};

class ExitTimer {
public:
    ExitTimer(ExitTiming& timing, const kvm_run& run, std::uint32_t vcpu, ExitStats& stats,
              const Buses& buses)
        : timing_(timing),
          run_(run),
          vcpu_(vcpu),
          stats_(stats),
          buses_(buses),
          start_(timing.timed ? timing.clock.now_ns() : 0) {}

    ~ExitTimer() {
        if (!timing_.timed) {
            return;
        }
        const std::uint64_t end = timing_.clock.now_ns();
        stats_.add_time(run_.exit_reason, end - start_);
        if (!timing_.trace) {
            return;
        }
        ExitEvent event = describe_exit(run_);
        event.vcpu = vcpu_;
        event.start_ns = start_;
        event.duration_ns = end - start_;
        if (event.access == ExitEvent::Access::port_in ||
            event.access == ExitEvent::Access::port_out) {
            const auto* device = buses_.ports.device_at(static_cast<std::uint16_t>(event.address));
            event.device = device != nullptr ? device->name() : "";
        } else if (event.access != ExitEvent::Access::none) {
            event.device = buses_.mmio.name_at(event.address);
        }
        try {
            timing_.trace->record(event);
        } catch (...) {
            // Only memory can run out here (a destructor must not throw); the file's
            // own write errors are reported by ExitTraceWriter::finish().
        }
    }
    ExitTimer(const ExitTimer&) = delete;
    ExitTimer& operator=(const ExitTimer&) = delete;

private:
    ExitTiming& timing_;
    const kvm_run& run_;
    std::uint32_t vcpu_;
    ExitStats& stats_;
    const Buses& buses_;
    std::uint64_t start_;
};

}  // namespace berth::machine
