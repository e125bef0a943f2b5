// Fuzz harness: virtio-blk requests (devices/virtio/blk) from a hostile driver: any
// header, sector, type, buffer layout and direction, against a small disk. Every
// request must end with a status or be returned untouched; the device may only read
// and write inside the disk and the guest RAM.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "devices/virtio/blk.hpp"
#include "tests/fuzz/guest_ring.hpp"
#include "tests/fuzz/scratch_file.hpp"
#include "vmm/memory/guest_memory.hpp"

using namespace berth::devices::virtio;

namespace {

Blk& disk(Access access) {
    // Two 64 KiB disks for the whole run (berth attaches a file once per run).
    static const std::vector<std::uint8_t> zeros(64 * 1024);
    static Blk read_write(
        DiskImage::open(berth::fuzz::scratch_file("rw.img", zeros), Access::read_write), "fuzz-rw");
    static Blk read_only(
        DiskImage::open(berth::fuzz::scratch_file("ro.img", zeros), Access::read_only), "fuzz-ro");
    return access == Access::read_only ? read_only : read_write;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    berth::fuzz::GuestRing guest;
    if (!guest.load(std::span(data, size))) {
        return 0;
    }
    Blk& blk = disk((data[1] & 4) != 0 ? Access::read_only : Access::read_write);
    try {
        SplitQueue queue(guest.memory, guest.layout, guest.event_idx, guest.indirect);
        blk.process(0, queue);
    } catch (const QueueViolation&) {
    } catch (const berth::memory::GuestMemoryError&) {
    }
    return 0;
}
