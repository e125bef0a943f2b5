#pragma once
// Counts of VM exits by reason and, for port I/O, by port and direction; printed as
// the `--trace-exits` table. Each vCPU keeps its own ExitStats (no locking on the hot
// path); the machine merges them when the run ends.

#include <cstdint>
#include <map>
#include <string>
#include <tuple>

namespace berth::machine {

enum class IoDirection { in, out };

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
    void merge(const ExitStats& other);

    std::uint64_t total() const;
    std::uint64_t exits(std::uint32_t reason) const;
    std::uint64_t port_accesses(std::uint16_t port, IoDirection direction) const;

    // The table `--trace-exits` prints: exits by reason, then port I/O by port.
    std::string table() const;

private:
    struct PortEntry {
        std::uint64_t count = 0;
        std::string device;
    };
    std::map<std::uint32_t, std::uint64_t> by_reason_;
    std::map<std::tuple<std::uint16_t, IoDirection>, PortEntry> by_port_;
};

}  // namespace berth::machine
