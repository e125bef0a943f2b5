#include "vmm/container/cgroup_io_limits.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <initializer_list>
#include <string_view>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/unique_fd.hpp"

namespace berth::container {

namespace {

constexpr std::string_view block_io = "linux.resources.blockIO";

bool exists(const std::string& path) {
    return ::access(path.c_str(), F_OK) == 0;
}

// The first of `names` that `dir` has, or empty.
std::string first_file(const std::string& dir, std::initializer_list<const char*> names) {
    for (const char* name : names) {
        if (exists(dir + "/" + name)) {
            return name;
        }
    }
    return {};
}

// One write per line: the kernel parses a device's line per write(2).
void write_line(const std::string& dir, const std::string& file, const std::string& line) {
    const std::string path = dir + "/" + file;
    const UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd || ::write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
        throw_errno(fmt::format("cannot write {} to {}", quote(line), path), errno);
    }
}

std::string device(const DeviceNumber& number) {
    return fmt::format("{}:{}", number.major, number.minor);
}

// v2's io.weight runs from 1 to 10000 (default 100) where blkio's ran from 10 to 1000
// (default 500): the same place in the range.
unsigned io_weight(unsigned blkio_weight) {
    return 1 + (blkio_weight - 10) * 9999 / 990;
}

void write_v1(const std::string& dir, const BlockIoLimits& limits) {
    // BFQ's files when BFQ is the scheduler, else CFQ's (kernels before 5.0).
    const std::string weight = first_file(dir, {"blkio.weight", "blkio.bfq.weight"});
    const std::string weight_device =
        weight == "blkio.bfq.weight" ? "blkio.bfq.weight_device" : "blkio.weight_device";
    if (limits.weight) {
        write_line(dir, weight, std::to_string(*limits.weight));
    }
    if (limits.leaf_weight) {
        write_line(dir, "blkio.leaf_weight", std::to_string(*limits.leaf_weight));
    }
    for (const DeviceWeight& entry : limits.weight_devices) {
        if (entry.weight) {
            write_line(dir, weight_device,
                       fmt::format("{} {}", device(entry.device), *entry.weight));
        }
        if (entry.leaf_weight) {
            write_line(dir, "blkio.leaf_weight_device",
                       fmt::format("{} {}", device(entry.device), *entry.leaf_weight));
        }
    }
    const std::pair<const char*, const std::vector<DeviceRate>*> throttles[] = {
        {"blkio.throttle.read_bps_device", &limits.read_bps},
        {"blkio.throttle.write_bps_device", &limits.write_bps},
        {"blkio.throttle.read_iops_device", &limits.read_iops},
        {"blkio.throttle.write_iops_device", &limits.write_iops},
    };
    for (const auto& [file, rates] : throttles) {
        for (const DeviceRate& rate : *rates) {
            write_line(dir, file, fmt::format("{} {}", device(rate.device), rate.rate));
        }
    }
}

void write_v2(const std::string& dir, const BlockIoLimits& limits) {
    // BFQ takes blkio's range as it is; io.weight (the iocost controller) its own.
    const bool bfq = exists(dir + "/io.bfq.weight");
    const auto weight_of = [&](unsigned weight) { return bfq ? weight : io_weight(weight); };
    const std::string weight_file = bfq ? "io.bfq.weight" : "io.weight";
    if ((limits.weight || !limits.weight_devices.empty()) && !exists(dir + "/" + weight_file)) {
        throw bad_input(
            fmt::format("cgroup {} has neither io.weight nor io.bfq.weight (the host's I/O "
                        "scheduler has no weights); drop the weights",
                        dir));
    }
    if (limits.weight) {
        write_line(dir, weight_file, fmt::format("default {}", weight_of(*limits.weight)));
    }
    for (const DeviceWeight& entry : limits.weight_devices) {
        if (entry.weight) {
            write_line(dir, weight_file,
                       fmt::format("{} {}", device(entry.device), weight_of(*entry.weight)));
        }
    }
    const std::pair<const char*, const std::vector<DeviceRate>*> maxima[] = {
        {"rbps", &limits.read_bps},
        {"wbps", &limits.write_bps},
        {"riops", &limits.read_iops},
        {"wiops", &limits.write_iops},
    };
    for (const auto& [key, rates] : maxima) {
        for (const DeviceRate& rate : *rates) {
            write_line(dir, "io.max", fmt::format("{} {}={}", device(rate.device), key, rate.rate));
        }
    }
}

}  // namespace

std::string block_io_controller(const CgroupLayout& layout) {
    for (const char* controller : {"blkio", "io"}) {
        if (layout.find(controller) != nullptr) {
            return controller;
        }
    }
    return {};
}

void check_block_io(const std::string& parent, CgroupVersion version, const BlockIoLimits& limits) {
    const bool leaf = limits.leaf_weight ||
                      std::any_of(limits.weight_devices.begin(), limits.weight_devices.end(),
                                  [](const DeviceWeight& entry) { return entry.leaf_weight; });
    if (version == CgroupVersion::v2) {
        // The io.* files exist only in cgroups below one that delegates io: write_v2
        // looks once the cgroup is made.
        if (leaf) {
            throw bad_input(fmt::format(
                "{}: leafWeight has no cgroup v2 file (it went with the CFQ scheduler); drop it",
                block_io));
        }
        return;
    }
    const bool weight =
        limits.weight ||
        std::any_of(limits.weight_devices.begin(), limits.weight_devices.end(),
                    [](const DeviceWeight& entry) { return entry.weight.has_value(); });
    if (weight && first_file(parent, {"blkio.weight", "blkio.bfq.weight"}).empty()) {
        throw bad_input(
            fmt::format("{}.weight: this host's blkio cgroup has no weight file (blkio.weight or "
                        "blkio.bfq.weight: its I/O scheduler is neither CFQ nor BFQ); drop the "
                        "weights",
                        block_io));
    }
    if (leaf && !exists(parent + "/blkio.leaf_weight")) {
        throw bad_input(
            fmt::format("{}.leafWeight: this host's blkio cgroup has no blkio.leaf_weight (it "
                        "went with the CFQ scheduler); drop it",
                        block_io));
    }
    const bool throttle = !limits.read_bps.empty() || !limits.write_bps.empty() ||
                          !limits.read_iops.empty() || !limits.write_iops.empty();
    if (throttle && !exists(parent + "/blkio.throttle.read_bps_device")) {
        throw bad_input(
            fmt::format("{}: this host's blkio cgroup has no throttle files (a kernel without "
                        "CONFIG_BLK_DEV_THROTTLING); drop the throttle limits",
                        block_io));
    }
}

void write_block_io(const std::string& dir, CgroupVersion version, const BlockIoLimits& limits) {
    if (version == CgroupVersion::v1) {
        write_v1(dir, limits);
    } else {
        write_v2(dir, limits);
    }
}

std::vector<std::string> host_hugepage_sizes() {
    std::vector<std::string> sizes;
    std::error_code error;
    for (const auto& entry :
         std::filesystem::directory_iterator("/sys/kernel/mm/hugepages", error)) {
        // "hugepages-2048kB" -> 2048 KiB -> "2MB", as hugetlb names its files.
        const std::string name = entry.path().filename().string();
        if (!name.starts_with("hugepages-") || !name.ends_with("kB")) {
            continue;
        }
        std::uint64_t kib = std::stoull(name.substr(10, name.size() - 12));
        const char* units[] = {"KB", "MB", "GB", "TB"};
        std::size_t unit = 0;
        while (kib >= 1024 && kib % 1024 == 0 && unit < 3) {
            kib /= 1024;
            ++unit;
        }
        sizes.push_back(fmt::format("{}{}", kib, units[unit]));
    }
    std::sort(sizes.begin(), sizes.end());
    return sizes;
}

void write_hugepage_limits(const std::string& dir, CgroupVersion version,
                           const std::vector<HugepageLimit>& limits) {
    const bool v1 = version == CgroupVersion::v1;
    for (const HugepageLimit& limit : limits) {
        const std::string prefix = "hugetlb." + limit.page_size;
        const std::string value = std::to_string(limit.limit);
        write_line(dir, prefix + (v1 ? ".limit_in_bytes" : ".max"), value);
        // Kernels since 5.7 also limit reservations; the same limit there, so that a
        // mapping that reserves pages is held to it as well.
        const std::string reserved = prefix + (v1 ? ".rsvd.limit_in_bytes" : ".rsvd.max");
        if (exists(dir + "/" + reserved)) {
            write_line(dir, reserved, value);
        }
    }
}

}  // namespace berth::container
