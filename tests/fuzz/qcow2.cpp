// Fuzz harness: qcow2 images (devices/block/qcow2_disk) as a hostile image file: the
// input is the whole file. Opening must either accept the image or refuse it with
// berth::Error; an accepted one then serves reads across the disk, a write, write-zeroes,
// a discard and a flush, each of which may fail (IOERR for the guest) but must never
// read or write outside the file's clusters, crash or loop.

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "devices/block/qcow2_disk.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/unique_fd.hpp"

namespace {

// The image file, rewritten for every input (removed at exit).
struct ScratchImage {
    std::filesystem::path path;
    ScratchImage() {
        char name[] = "/tmp/berth-fuzz-qcow2-XXXXXX";
        const berth::UniqueFd fd(::mkstemp(name));
        if (!fd) {
            std::abort();
        }
        path = name;
    }
    ~ScratchImage() { std::filesystem::remove(path); }
    void write(const std::uint8_t* data, std::size_t size) const {
        const berth::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
        if (!fd || ::write(fd.get(), data, size) != static_cast<ssize_t>(size)) {
            std::abort();
        }
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const ScratchImage image;
    image.write(data, size);
    try {
        auto disk = berth::devices::block::Qcow2Disk::open(
            image.path, berth::devices::block::Access::read_write);
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
