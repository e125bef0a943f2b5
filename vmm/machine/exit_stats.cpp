#include "machine/exit_stats.hpp"

#include <fmt/format.h>

#include "kvm/vcpu.hpp"

namespace berth::machine {

void ExitStats::merge(const ExitStats& other) {
    for (const auto& [reason, count] : other.by_reason_) {
        by_reason_[reason] += count;
    }
    for (const auto& [key, entry] : other.by_port_) {
        auto& mine = by_port_[key];
        mine.count += entry.count;
        if (mine.device.empty()) {
            mine.device = entry.device;
        }
    }
}

std::uint64_t ExitStats::total() const {
    std::uint64_t sum = 0;
    for (const auto& [reason, count] : by_reason_) {
        sum += count;
    }
    return sum;
}

std::uint64_t ExitStats::exits(std::uint32_t reason) const {
    const auto it = by_reason_.find(reason);
    return it == by_reason_.end() ? 0 : it->second;
}

std::uint64_t ExitStats::port_accesses(std::uint16_t port, IoDirection direction) const {
    const auto it = by_port_.find({port, direction});
    return it == by_port_.end() ? 0 : it->second.count;
}

std::string ExitStats::table() const {
    std::string out = fmt::format("VM exits: {}\n", total());
    out += fmt::format("  {:<16} {:>10}\n", "reason", "count");
    for (const auto& [reason, count] : by_reason_) {
        out += fmt::format("  {:<16} {:>10}\n", kvm::exit_reason_name(reason), count);
    }
    if (!by_port_.empty()) {
        out += "Port I/O exits:\n";
        out += fmt::format("  {:<8} {:<4} {:>10}  {}\n", "port", "dir", "count", "device");
        for (const auto& [key, entry] : by_port_) {
            const auto& [port, direction] = key;
            out += fmt::format("  {:<#8x} {:<4} {:>10}  {}\n", port,
                               direction == IoDirection::in ? "in" : "out", entry.count,
                               entry.device.empty() ? "(none)" : entry.device);
        }
    }
    return out;
}

}  // namespace berth::machine
