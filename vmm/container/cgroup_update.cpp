#include "vmm/container/cgroup_update.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <fstream>
#include <optional>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/unique_fd.hpp"
#include "vmm/container/cgroup_io_limits.hpp"

namespace berth::container {

namespace {

bool has(const std::string& path) {
    return ::access(path.c_str(), F_OK) == 0;
}

void write_value(const std::string& path, const std::string& value) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd ||
        ::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size())) {
        throw_errno(fmt::format("cannot write {} to {}", quote(value), path), errno);
    }
}

std::string read_value(const std::string& path) {
    std::ifstream file(path);
    std::string value;
    file >> value;
    return value;
}

// The directory among `dirs` holding `file`, or empty.
std::string holding(const std::vector<std::string>& dirs, const std::string& file) {
    for (const auto& dir : dirs) {
        if (has(dir + "/" + file)) {
            return dir;
        }
    }
    return {};
}

[[noreturn]] void missing(std::string_view what, std::string_view controller) {
    throw Error(
        fmt::format("{}: the container has no {} cgroup (created rootless, or the host "
                    "lacks the controller)",
                    what, controller));
}

void update_memory(const std::vector<std::string>& dirs, std::int64_t limit) {
    if (const std::string v1 = holding(dirs, "memory.limit_in_bytes"); !v1.empty()) {
        const std::string value = std::to_string(limit < 0 ? -1 : limit);
        // berth sets memory+swap to the limit (no swap): the kernel keeps memsw >= the
        // limit, so raising writes memsw first and lowering the limit first.
        const std::string memsw = v1 + "/memory.memsw.limit_in_bytes";
        if (!has(memsw)) {
            write_value(v1 + "/memory.limit_in_bytes", value);
            return;
        }
        const std::string current = read_value(v1 + "/memory.limit_in_bytes");
        const bool raising = limit < 0 || std::stoll(current) < limit;
        if (raising) {
            write_value(memsw, value);
            write_value(v1 + "/memory.limit_in_bytes", value);
        } else {
            write_value(v1 + "/memory.limit_in_bytes", value);
            write_value(memsw, value);
        }
        return;
    }
    if (const std::string v2 = holding(dirs, "memory.max"); !v2.empty()) {
        write_value(v2 + "/memory.max", limit < 0 ? "max" : std::to_string(limit));
        return;
    }
    missing("linux.resources.memory.limit", "memory");
}

void update_pids(const std::vector<std::string>& dirs, std::int64_t limit) {
    const std::string dir = holding(dirs, "pids.max");
    if (dir.empty()) {
        missing("linux.resources.pids.limit", "pids");
    }
    write_value(dir + "/pids.max", limit <= 0 ? "max" : std::to_string(limit));
}

void update_cpu(const std::vector<std::string>& dirs, std::optional<std::int64_t> quota,
                std::optional<std::uint64_t> period) {
    if (const std::string v1 = holding(dirs, "cpu.cfs_quota_us"); !v1.empty()) {
        if (period) {
            write_value(v1 + "/cpu.cfs_period_us", std::to_string(*period));
        }
        if (quota) {
            write_value(v1 + "/cpu.cfs_quota_us", std::to_string(*quota < 0 ? -1 : *quota));
        }
        return;
    }
    if (const std::string v2 = holding(dirs, "cpu.max"); !v2.empty()) {
        // "QUOTA PERIOD": what is not given stays as it is.
        std::ifstream file(v2 + "/cpu.max");
        std::string old_quota;
        std::string old_period;
        file >> old_quota >> old_period;
        const std::string new_quota =
            quota ? (*quota < 0 ? "max" : std::to_string(*quota)) : old_quota;
        const std::string new_period = period ? std::to_string(*period) : old_period;
        write_value(v2 + "/cpu.max", new_quota + " " + new_period);
        return;
    }
    missing("linux.resources.cpu", "cpu");
}

// A container has a blkio (io) or hugetlb cgroup only when create asked for limits of
// that kind: an update can change them, not add the controller.
void update_block_io(const std::vector<std::string>& dirs, const BlockIoLimits& limits) {
    const std::string v1 = holding(dirs, "blkio.throttle.read_bps_device");
    const std::string v2 = holding(dirs, "io.max");
    if (v1.empty() && v2.empty()) {
        missing("linux.resources.blockIO", "blkio (io)");
    }
    try {
        write_block_io(v1.empty() ? v2 : v1, v1.empty() ? CgroupVersion::v2 : CgroupVersion::v1,
                       limits);
    } catch (const Error& e) {
        throw e.with_context("linux.resources.blockIO");
    }
}

void update_hugepages(const std::vector<std::string>& dirs,
                      const std::vector<HugepageLimit>& limits) {
    for (std::size_t i = 0; i < limits.size(); ++i) {
        const std::string prefix = "hugetlb." + limits[i].page_size;
        const std::string v1 = holding(dirs, prefix + ".limit_in_bytes");
        const std::string v2 = holding(dirs, prefix + ".max");
        const std::string what = fmt::format("linux.resources.hugepageLimits[{}]", i);
        if (v1.empty() && v2.empty()) {
            missing(what, fmt::format("hugetlb (with {} pages)", limits[i].page_size));
        }
        try {
            write_hugepage_limits(v1.empty() ? v2 : v1,
                                  v1.empty() ? CgroupVersion::v2 : CgroupVersion::v1, {limits[i]});
        } catch (const Error& e) {
            throw e.with_context(what);
        }
    }
}

}  // namespace

void update_cgroups(const std::vector<std::string>& dirs, const oci::Resources& resources) {
    if (resources.memory_limit) {
        update_memory(dirs, *resources.memory_limit);
    }
    if (resources.pids_limit) {
        update_pids(dirs, *resources.pids_limit);
    }
    if (resources.cpu_quota || resources.cpu_period) {
        update_cpu(dirs, resources.cpu_quota, resources.cpu_period);
    }
    if (resources.block_io.any()) {
        update_block_io(dirs, resources.block_io);
    }
    if (!resources.hugepage_limits.empty()) {
        update_hugepages(dirs, resources.hugepage_limits);
    }
}

}  // namespace berth::container
