#include "vmm/machine/exit_stats.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "vmm/kvm/vcpu.hpp"

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
    for (const auto& [key, entry] : other.by_mmio_) {
        auto& mine = by_mmio_[key];
        mine.count += entry.count;
        if (mine.device.empty()) {
            mine.device = entry.device;
        }
    }
    for (const auto& [reason, ns] : other.by_reason_time_) {
        by_reason_time_[reason] += ns;
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

std::uint64_t ExitStats::mmio_accesses(std::uint64_t address, MmioDirection direction) const {
    const auto it = by_mmio_.find({address, direction});
    return it == by_mmio_.end() ? 0 : it->second.count;
}

std::uint64_t ExitStats::total_time_ns(std::uint32_t reason) const {
    const auto it = by_reason_time_.find(reason);
    return it == by_reason_time_.end() ? 0 : it->second;
}

std::string ExitStats::table() const {
    std::string out = fmt::format("VM exits: {}\n", total());
    // Untimed runs (no clock reads) get no time columns rather than zeros.
    const bool timed = !by_reason_time_.empty();
    if (timed) {
        out += fmt::format("  {:<16} {:>10} {:>14} {:>10}\n", "reason", "count", "total_us",
                           "mean_us");
    } else {
        out += fmt::format("  {:<16} {:>10}\n", "reason", "count");
    }
    for (const auto& [reason, count] : by_reason_) {
        if (timed) {
            const double total_us = static_cast<double>(total_time_ns(reason)) / 1000.0;
            out +=
                fmt::format("  {:<16} {:>10} {:>14.1f} {:>10.2f}\n", kvm::exit_reason_name(reason),
                            count, total_us, total_us / static_cast<double>(count));
        } else {
            out += fmt::format("  {:<16} {:>10}\n", kvm::exit_reason_name(reason), count);
        }
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
    if (!by_mmio_.empty()) {
        out += "MMIO exits:\n";
        out += fmt::format("  {:<18} {:<5} {:>10}  {}\n", "address", "dir", "count", "device");
        for (const auto& [key, entry] : by_mmio_) {
            const auto& [address, direction] = key;
            out += fmt::format("  {:<#18x} {:<5} {:>10}  {}\n", address,
                               direction == MmioDirection::read ? "read" : "write", entry.count,
                               entry.device.empty() ? "(none)" : entry.device);
        }
    }
    return out;
}

nlohmann::json ExitStats::json() const {
    nlohmann::json by_reason = nlohmann::json::object();
    for (const auto& [reason, count] : by_reason_) {
        by_reason[std::string(kvm::exit_reason_name(reason))] = count;
    }
    nlohmann::json by_device = nlohmann::json::object();
    auto add_to_device = [&by_device](const std::string& device, std::uint64_t count) {
        const std::string name = device.empty() ? "(none)" : device;
        by_device[name] = by_device.value(name, std::uint64_t{0}) + count;
    };
    nlohmann::json ports = nlohmann::json::array();
    for (const auto& [key, entry] : by_port_) {
        const auto& [port, direction] = key;
        ports.push_back({{"port", port},
                         {"direction", direction == IoDirection::in ? "in" : "out"},
                         {"count", entry.count},
                         {"device", entry.device.empty() ? "(none)" : entry.device}});
        add_to_device(entry.device, entry.count);
    }
    nlohmann::json mmio = nlohmann::json::array();
    for (const auto& [key, entry] : by_mmio_) {
        const auto& [address, direction] = key;
        mmio.push_back({{"address", address},
                        {"direction", direction == MmioDirection::read ? "read" : "write"},
                        {"count", entry.count},
                        {"device", entry.device.empty() ? "(none)" : entry.device}});
        add_to_device(entry.device, entry.count);
    }
    return {{"total_exits", total()},
            {"exits_by_reason", std::move(by_reason)},
            {"exits_by_device", std::move(by_device)},
            {"ports", std::move(ports)},
            {"mmio", std::move(mmio)}};
}

}  // namespace berth::machine
