#pragma once
// A container's block I/O and huge page limits (OCI linux.resources.blockIO and
// hugepageLimits) and how they are written to its cgroup: the blkio controller on v1,
// io on v2, hugetlb on both. The names of the files follow the kernel's
// Documentation/admin-guide/cgroup-v1/blkio-controller.rst, cgroup-v2.rst and
// hugetlb.rst; which file holds a weight depends on the host's I/O scheduler (BFQ
// has its own).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vmm/container/cgroup_layout.hpp"

namespace berth::container {

// A block device by its numbers ("8:0").
struct DeviceNumber {
    std::int64_t major = 0;
    std::int64_t minor = 0;
};

struct DeviceWeight {
    DeviceNumber device;
    std::optional<std::uint16_t> weight;       // 10 to 1000
    std::optional<std::uint16_t> leaf_weight;  // v1 only (CFQ)
};

struct DeviceRate {
    DeviceNumber device;
    std::uint64_t rate = 0;  // bytes or operations per second
};

struct BlockIoLimits {
    std::optional<std::uint16_t> weight;       // 10 to 1000
    std::optional<std::uint16_t> leaf_weight;  // v1 only (CFQ)
    std::vector<DeviceWeight> weight_devices;
    std::vector<DeviceRate> read_bps;
    std::vector<DeviceRate> write_bps;
    std::vector<DeviceRate> read_iops;
    std::vector<DeviceRate> write_iops;
    bool any() const {
        return weight || leaf_weight || !weight_devices.empty() || !read_bps.empty() ||
               !write_bps.empty() || !read_iops.empty() || !write_iops.empty();
    }
    // Whether a weight of any kind is asked for (those need a scheduler's file).
    bool weights() const { return weight || leaf_weight || !weight_devices.empty(); }
};

struct HugepageLimit {
    std::string page_size;    // as the kernel's files name it: "2MB", "1GB"
    std::uint64_t limit = 0;  // bytes
};

// The controller that holds block I/O limits in `layout`: "blkio" (v1) or "io" (v2), or
// empty when there is neither.
std::string block_io_controller(const CgroupLayout& layout);

// Checks that the host's files for `limits` exist in `parent` (a cgroup of the
// hierarchy they go to; its children get the same files): a weight needs a weight file,
// which only the CFQ or BFQ scheduler makes. Throws a bad-input Error naming the
// config's field ("linux.resources.blockIO.weight: ...").
void check_block_io(const std::string& parent, CgroupVersion version, const BlockIoLimits& limits);
// Writes `limits` into the cgroup `dir`. Throws an Error naming the file.
void write_block_io(const std::string& dir, CgroupVersion version, const BlockIoLimits& limits);

// The huge page sizes this host has, as hugetlb's files name them ("2MB", "1GB").
std::vector<std::string> host_hugepage_sizes();
// Writes each limit into the cgroup `dir` (the reservation limit too, where the kernel
// has one). Throws an Error naming the file.
void write_hugepage_limits(const std::string& dir, CgroupVersion version,
                           const std::vector<HugepageLimit>& limits);

}  // namespace berth::container
