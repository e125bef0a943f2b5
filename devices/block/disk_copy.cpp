#include "devices/block/disk_copy.hpp"

#include <algorithm>
#include <vector>

#include <fmt/format.h>

#include "vmm/common/error.hpp"

namespace berth::devices::block {

void copy_disk(BlockBackend& from, BlockBackend& to,
               const std::function<void(std::uint64_t done)>& progress) {
    if (to.size() != from.size()) {
        throw Error(
            fmt::format("cannot copy a disk of {} bytes into one of {}", from.size(), to.size()));
    }
    std::vector<std::uint8_t> buffer(disk_copy_chunk);
    for (std::uint64_t offset = 0; offset < from.size();) {
        const std::uint64_t length = std::min(disk_copy_chunk, from.size() - offset);
        const iovec chunk{buffer.data(), length};
        if (!from.read({&chunk, 1}, offset)) {
            throw Error(fmt::format("{} ({}): cannot read {} bytes at offset {}",
                                    from.path().string(), from.format(), length, offset));
        }
        const auto end = buffer.begin() + static_cast<std::ptrdiff_t>(length);
        if (std::any_of(buffer.begin(), end, [](std::uint8_t byte) { return byte != 0; }) &&
            !to.write({&chunk, 1}, offset)) {
            throw Error(
                fmt::format("cannot write {} bytes at offset {} (disk full?)", length, offset));
        }
        offset += length;
        progress(offset);
    }
    if (!to.flush()) {
        throw Error("cannot flush the written image to disk");
    }
}

}  // namespace berth::devices::block
