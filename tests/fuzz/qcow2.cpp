// Fuzz harness: qcow2 images (devices/block/qcow2_disk) as a hostile image file: the
// input is the whole file. Opening must either accept the image or refuse it with
// berth::Error; an accepted one then serves reads across the disk, a write, write-zeroes,
// a discard and a flush, each of which may fail (IOERR for the guest) but must never
// read or write outside the file's clusters, crash or loop.

#include <sys/uio.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "devices/block/qcow2_disk.hpp"
#include "tests/fuzz/scratch_file.hpp"
#include "vmm/common/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto image = berth::fuzz::scratch_file("image.qcow2", std::span(data, size));
    try {
        auto disk = berth::devices::block::Qcow2Disk::open(
            image, berth::devices::block::Access::read_write);
        std::vector<std::uint8_t> buffer(4096, 0x5a);
        const iovec io{buffer.data(), buffer.size()};
        const std::uint64_t disk_size = disk->size();
        if (disk_size < buffer.size()) {
            return 0;
        }
        // Reads at a few places across the disk, then one of each change.
        const std::uint64_t last = disk_size - buffer.size();
        const std::uint64_t sector_mask = ~std::uint64_t{511};
        for (const std::uint64_t offset :
             {std::uint64_t{0}, last / 3 & sector_mask, last & sector_mask}) {
            disk->read({&io, 1}, offset);
        }
        disk->write({&io, 1}, 0);
        disk->write_zeroes(std::min<std::uint64_t>(65536, last) & sector_mask, buffer.size());
        disk->discard(0, std::min<std::uint64_t>(disk_size, 1 << 20) & sector_mask);
        disk->flush();
        disk->read({&io, 1}, 0);
    } catch (const berth::Error&) {
    }
    return 0;
}
