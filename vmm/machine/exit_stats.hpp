#pragma once
// Counts of VM exits by reason and, for port I/O, by port and direction; printed as
// the `--trace-exits` table. Each vCPU keeps its own ExitStats (no locking on the hot
// path); the machine merges them when the run ends.
//
// When the machine times its exits (only when asked: timing reads the clock twice per
// exit) the table also shows the total and mean time berth spent handling each reason.

#include <concepts>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include <nlohmann/json_fwd.hpp>

namespace berth::machine {

enum class IoDirection { in, out };
enum class MmioDirection { read, write };

class ExitStats {
public:
    void count_exit(std::uint32_t reason) { ++by_reason_[reason]; }
    void count_port(std::uint16_t port, IoDirection direction, std::string_view device) {
        auto& entry = by_port_[{port, direction}];
        ++entry.count;
        if (entry.device.empty()) {
            entry.device = device;
        }
    }
    void count_mmio(std::uint64_t address, MmioDirection direction, std::string_view device) {
        count_mmio(address, direction, [device] { return device; });
    }
    // The same, asking `device_name()` (-> std::string_view) only until an address has
    // a name: naming a PCI function means searching its bus's BARs, once, not per exit.
    template <std::invocable DeviceName>
    void count_mmio(std::uint64_t address, MmioDirection direction, DeviceName&& device_name) {
        auto& entry = by_mmio_[{address, direction}];
        ++entry.count;
        if (entry.device.empty()) {
            entry.device = device_name();
        }
    }
    // Time from KVM_RUN returning to calling it again, for one exit of `reason`.
    void add_time(std::uint32_t reason, std::uint64_t nanoseconds) {
        by_reason_time_[reason] += nanoseconds;
    }
    void merge(const ExitStats& other);

    std::uint64_t total() const;
    std::uint64_t exits(std::uint32_t reason) const;
    std::uint64_t port_accesses(std::uint16_t port, IoDirection direction) const;
    std::uint64_t mmio_accesses(std::uint64_t address, MmioDirection direction) const;
    std::uint64_t total_time_ns(std::uint32_t reason) const;

    // The table `--trace-exits` prints: exits by reason (count first, then total and
    // mean microseconds when timed), then port I/O by port, then MMIO by address.
    std::string table() const;
    // The same counts for the control API (GET /vm/stats; docs/api/openapi.yaml,
    // VmStats): total, by reason, by device (port and MMIO exits summed per device
    // name), and the port and MMIO rows.
    nlohmann::json json() const;

private:
    struct PortEntry {
        std::uint64_t count = 0;
        std::string device;
    };
    std::map<std::uint32_t, std::uint64_t> by_reason_;
    std::map<std::tuple<std::uint16_t, IoDirection>, PortEntry> by_port_;
    std::map<std::tuple<std::uint64_t, MmioDirection>, PortEntry> by_mmio_;
    std::map<std::uint32_t, std::uint64_t> by_reason_time_;
};

}  // namespace berth::machine
