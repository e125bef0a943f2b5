// qcow2 disks against images qemu-img and qemu-io make: berth reads what
// `qemu-img convert -O raw` reads, and what berth writes passes `qemu-img check` and
// reads back through qemu. Hostile images are refused with one line naming the
// structure. Needs qemu-utils (tools/packages.txt).

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "devices/block/disk_spec.hpp"
#include "devices/block/qcow2_create.hpp"
#include "devices/block/qcow2_disk.hpp"
#include "devices/virtio/blk.hpp"
#include "tests/unit/byte_compare.hpp"
#include "tests/unit/virtio_blk_driver.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/temp_dir.hpp"
#include "vmm/common/unique_fd.hpp"

namespace {

namespace fs = std::filesystem;
using berth::devices::block::Access;
using berth::devices::block::BlockBackend;
using berth::devices::block::DiskFormat;
using berth::devices::block::DiskSpec;
using berth::devices::block::Qcow2Disk;
using berth::test::same_bytes;

// Runs a shell command in `dir`; its status.
int shell(const fs::path& dir, const std::string& command) {
    const std::string line = "cd '" + dir.string() + "' && (" + command + ") >/dev/null 2>&1";
    return WEXITSTATUS(std::system(line.c_str()));
}

void must(const fs::path& dir, const std::string& command) {
    INFO(command);
    REQUIRE(shell(dir, command) == 0);
}

std::vector<std::uint8_t> file_bytes(const fs::path& path) {
    std::ifstream file(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

// What qemu reads from the image: `qemu-img convert -O raw`.
std::vector<std::uint8_t> qemu_view(const fs::path& dir, const std::string& image) {
    must(dir, "qemu-img convert -O raw " + image + " qemu-view.raw");
    auto bytes = file_bytes(dir / "qemu-view.raw");
    fs::remove(dir / "qemu-view.raw");
    return bytes;
}

// What berth reads from the disk, in pieces of `piece` bytes (not cluster-aligned, so
// that reads straddle clusters).
std::vector<std::uint8_t> berth_view(BlockBackend& disk, std::uint64_t piece = 3 * 4096 + 512) {
    std::vector<std::uint8_t> bytes(disk.size());
    for (std::uint64_t at = 0; at < bytes.size(); at += piece) {
        const std::uint64_t count = std::min<std::uint64_t>(piece, bytes.size() - at);
        // Two iovecs, as a guest's scattered pages would be.
        const std::uint64_t half = count / 2;
        const iovec pieces[2] = {{bytes.data() + at, half},
                                 {bytes.data() + at + half, count - half}};
        REQUIRE(disk.read(pieces, at));
    }
    return bytes;
}

bool berth_write(BlockBackend& disk, std::uint64_t offset, const std::vector<std::uint8_t>& bytes) {
    const iovec piece{const_cast<std::uint8_t*>(bytes.data()), bytes.size()};
    return disk.write(std::span(&piece, 1), offset);
}

std::vector<std::uint8_t> pattern(std::size_t length, std::uint8_t seed) {
    std::vector<std::uint8_t> bytes(length);
    for (std::size_t i = 0; i < length; ++i) {
        bytes[i] = static_cast<std::uint8_t>(i * 31 + seed + (i >> 9));
    }
    return bytes;
}

// A raw file of `size` bytes with a pattern in every 64 KiB but every third.
void make_pattern_raw(const fs::path& path, std::uint64_t size) {
    std::vector<std::uint8_t> bytes(size);
    for (std::uint64_t at = 0; at < size; at += 65536) {
        if ((at / 65536) % 3 == 2) {
            continue;
        }
        const auto part =
            pattern(std::min<std::uint64_t>(65536, size - at), static_cast<std::uint8_t>(at >> 16));
        std::copy(part.begin(), part.end(), bytes.begin() + static_cast<std::ptrdiff_t>(at));
    }
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(size));
}

std::string open_error(const fs::path& path, Access access = Access::read_only) {
    try {
        Qcow2Disk::open(path, access);
    } catch (const berth::Error& e) {
        CHECK(e.status() == berth::ExitStatus::bad_input);
        return e.what();
    }
    return "no error";
}

void poke(const fs::path& path, std::uint64_t offset, const std::vector<std::uint8_t>& bytes) {
    const berth::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    REQUIRE(::pwrite(fd.get(), bytes.data(), bytes.size(), static_cast<off_t>(offset)) ==
            static_cast<ssize_t>(bytes.size()));
}

std::vector<std::uint8_t> be64(std::uint64_t value) {
    std::vector<std::uint8_t> bytes(8);
    for (int i = 7; i >= 0; --i, value >>= 8) {
        bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(value);
    }
    return bytes;
}

std::vector<std::uint8_t> be32(std::uint32_t value) {
    auto bytes = be64(value);
    return {bytes.begin() + 4, bytes.end()};
}

// qemu-io commands that leave every cluster kind in an image: data at odd offsets,
// partial clusters, a zero cluster (on version 3) and a discarded one.
const std::string qemu_io_writes =
    "-c 'write -P 0x11 0 4k' -c 'write -P 0x22 60k 8k' -c 'write -P 0x33 200k 150k' "
    "-c 'write -z 512k 64k' -c 'write -P 0x44 1m 64k' -c 'discard 1m 64k' "
    "-c 'write -P 0x55 3m 1k'";

}  // namespace

TEST_CASE("berth reads qcow2 v2 and v3 images as qemu does", "[qcow2]") {
    const berth::TempDir dir("berth-qcow2-");
    for (const std::string compat : {"0.10", "1.1"}) {
        for (const std::string cluster : {"65536", "4096", "512"}) {
            INFO("compat " << compat << ", cluster size " << cluster);
            must(dir.path(), "qemu-img create -f qcow2 -o compat=" + compat +
                                 ",cluster_size=" + cluster + " a.qcow2 4M");
            must(dir.path(), "qemu-io -f qcow2 " + qemu_io_writes + " a.qcow2");
            auto disk = Qcow2Disk::open(dir.path() / "a.qcow2", Access::read_only);
            CHECK(disk->size() == 4 << 20);
            CHECK(disk->header().version == (compat == "1.1" ? 3u : 2u));
            CHECK(same_bytes(berth_view(*disk), qemu_view(dir.path(), "a.qcow2")));
        }
    }
}

// A request over several clusters reads runs that are contiguous in the file in one
// transfer: the run must stop where the file's order breaks, at a zero or unallocated
// cluster, and at the request's end.
TEST_CASE("berth reads requests spanning many clusters, in file order or not", "[qcow2]") {
    const berth::TempDir dir("berth-qcow2-");
    make_pattern_raw(dir.path() / "p.raw", 3 << 20);
    must(dir.path(), "qemu-img convert -O qcow2 p.raw in-order.qcow2");
    // Allocated backwards and interleaved: neighbours in the disk are not in the file.
    must(dir.path(),
         "qemu-img create -f qcow2 mixed.qcow2 2M && qemu-io -f qcow2 "
         "-c 'write -P 0x61 448k 64k' -c 'write -P 0x62 64k 64k' "
         "-c 'write -P 0x63 128k 256k' -c 'write -P 0x64 0 64k' "
         "-c 'write -P 0x65 384k 64k' -c 'write -z 192k 64k' "
         "-c 'write -P 0x66 1m 512k' -c 'discard 1152k 64k' mixed.qcow2");
    for (const std::string image : {"in-order.qcow2", "mixed.qcow2"}) {
        INFO(image);
        auto disk = Qcow2Disk::open(dir.path() / image, Access::read_only);
        const auto expected = qemu_view(dir.path(), image);
        for (const std::uint64_t piece :
             std::vector<std::uint64_t>{1 << 20, (3 << 16) + 512, 5 << 16}) {
            INFO("requests of " << piece << " bytes");
            CHECK(same_bytes(berth_view(*disk, piece), expected));
        }
        CHECK(disk->reads_from_mapping());
    }
    // Data clusters are copied out of a mapping of the file: when someone truncates the
    // image underneath, a read of the vanished clusters fails (IOERR) instead of
    // killing berth with SIGBUS.
    auto disk = Qcow2Disk::open(dir.path() / "in-order.qcow2", Access::read_only);
    std::vector<std::uint8_t> bytes(1 << 20);
    const iovec piece{bytes.data(), bytes.size()};
    REQUIRE(disk->read(std::span(&piece, 1), 2 << 20));  // the L2 table is cached now
    fs::resize_file(dir.path() / "in-order.qcow2", 1 << 20);
    CHECK_FALSE(disk->read(std::span(&piece, 1), 2 << 20));
}

TEST_CASE("berth reads compressed clusters, deflate and zstd", "[qcow2]") {
    const berth::TempDir dir("berth-qcow2-");
    make_pattern_raw(dir.path() / "p.raw", 3 << 20);
    for (const std::string type : {"zlib", "zstd"}) {
        INFO("compression " << type);
        must(dir.path(),
             "qemu-img convert -c -O qcow2 -o compression_type=" + type + " p.raw c.qcow2");
        auto disk = Qcow2Disk::open(dir.path() / "c.qcow2", Access::read_only);
        CHECK(same_bytes(berth_view(*disk), file_bytes(dir.path() / "p.raw")));
        CHECK(same_bytes(berth_view(*disk, 65536), file_bytes(dir.path() / "p.raw")));
    }
}

TEST_CASE("berth reads through a backing chain of qcow2 and raw images", "[qcow2]") {
    const berth::TempDir dir("berth-qcow2-");
    make_pattern_raw(dir.path() / "base.raw", 2 << 20);
    must(dir.path(), "qemu-img create -f qcow2 -b base.raw -F raw mid.qcow2 3M");
    must(dir.path(), "qemu-io -f qcow2 -c 'write -P 0x66 100k 70k' mid.qcow2");
    must(dir.path(), "qemu-img create -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2 4M");
    must(dir.path(), "qemu-io -f qcow2 -c 'write -P 0x77 130k 4k' -c 'write -z 0 64k' top.qcow2");
    auto disk = Qcow2Disk::open(dir.path() / "top.qcow2", Access::read_only);
    REQUIRE(disk->backing() != nullptr);
    CHECK(disk->backing()->format() == "qcow2");
    CHECK(same_bytes(berth_view(*disk), qemu_view(dir.path(), "top.qcow2")));

    // The same, through the virtio-blk device.
    berth::devices::virtio::Blk blk(Qcow2Disk::open(dir.path() / "top.qcow2", Access::read_only),
                                    "serial");
    berth::test::Driver driver(blk);
    REQUIRE(driver.request(berth::devices::virtio::BlkRequestType::in, 256, {4096, 512}) == 0);
    const auto qemu = qemu_view(dir.path(), "top.qcow2");
    CHECK(
        same_bytes(driver.data({4096, 512}),
                   std::vector<std::uint8_t>(qemu.begin() + 131072, qemu.begin() + 131072 + 4608)));
}

TEST_CASE("berth's writes pass qemu-img check and read back through qemu", "[qcow2]") {
    const berth::TempDir dir("berth-qcow2-");
    make_pattern_raw(dir.path() / "base.raw", 1 << 20);
    struct Case {
        std::string create;
        std::string name;
    };
    const std::vector<Case> cases = {
        {"qemu-img create -f qcow2 w.qcow2 4M", "v3, 64 KiB clusters"},
        {"qemu-img create -f qcow2 -o compat=0.10 w.qcow2 4M", "v2"},
        // 512-byte clusters: a refcount block covers 128 KiB, so writes allocate blocks.
        {"qemu-img create -f qcow2 -o cluster_size=512 w.qcow2 4M", "512-byte clusters"},
        {"qemu-img create -f qcow2 -o cluster_size=4096,refcount_bits=1 w.qcow2 4M",
         "1-bit refcounts"},
        {"qemu-img create -f qcow2 -o cluster_size=4096,refcount_bits=64 w.qcow2 4M",
         "64-bit refcounts"},
        {"qemu-img create -f qcow2 -b base.raw -F raw w.qcow2 4M", "over a raw backing file"},
        {"qemu-img create -f qcow2 -o compat=0.10 -b base.raw -F raw w.qcow2 4M",
         "v2 over a raw backing file"},
        {"qemu-img convert -c -O qcow2 base.raw w.qcow2 && qemu-img resize w.qcow2 4M",
         "compressed clusters"},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        fs::remove(dir.path() / "w.qcow2");
        must(dir.path(), c.create);
        must(dir.path(),
             "qemu-io -f qcow2 -c 'write -P 0x11 64k 64k' -c 'write -z 192k 64k' w.qcow2");
        std::vector<std::uint8_t> expected = qemu_view(dir.path(), "w.qcow2");
        {
            auto disk = Qcow2Disk::open(dir.path() / "w.qcow2", Access::read_write);
            auto put = [&](std::uint64_t offset, std::size_t length, std::uint8_t seed) {
                const auto bytes = pattern(length, seed);
                REQUIRE(berth_write(*disk, offset, bytes));
                std::copy(bytes.begin(), bytes.end(),
                          expected.begin() + static_cast<std::ptrdiff_t>(offset));
            };
            put(512, 1024, 1);               // inside an allocated or backed cluster
            put(64 * 1024 + 100, 70000, 2);  // over an allocated cluster, into the next
            put(200 * 1024, 4096, 3);        // into a zero cluster
            put(1 << 20, 300 * 1024, 4);     // unallocated, across L2 and refcount blocks
            put((4 << 20) - 512, 512, 5);    // the last sector
            REQUIRE(disk->write_zeroes(128 * 1024, 64 * 1024));
            std::fill_n(expected.begin() + 128 * 1024, 64 * 1024, 0);
            REQUIRE(disk->write_zeroes(3000, 1000));
            std::fill_n(expected.begin() + 3000, 1000, 0);
            REQUIRE(disk->discard(2 << 20, 64 * 1024));  // unallocated: nothing to drop
            REQUIRE(disk->flush());
            CHECK(same_bytes(berth_view(*disk), expected));
        }
        CHECK(shell(dir.path(), "qemu-img check w.qcow2") == 0);
        CHECK(same_bytes(qemu_view(dir.path(), "w.qcow2"), expected));
    }
}

TEST_CASE("berth image create makes images qemu accepts", "[qcow2]") {
    const berth::TempDir dir("berth-qcow2-");
    make_pattern_raw(dir.path() / "base.raw", 1 << 20);
    {
        const berth::UniqueFd fd(
            ::open((dir.path() / "new.qcow2").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
        berth::devices::block::qcow2::write_new_image(fd.get(), {3 << 20, "base.raw", "raw"});
    }
    CHECK(shell(dir.path(), "qemu-img check new.qcow2") == 0);
    CHECK(shell(dir.path(), "qemu-img info new.qcow2 | grep -q 'backing file format: raw'") == 0);
    auto expected = file_bytes(dir.path() / "base.raw");
    expected.resize(3 << 20);
    CHECK(same_bytes(qemu_view(dir.path(), "new.qcow2"), expected));
    {
        auto disk = Qcow2Disk::open(dir.path() / "new.qcow2", Access::read_write);
        CHECK(same_bytes(berth_view(*disk), expected));
        const auto bytes = pattern(5000, 9);
        REQUIRE(berth_write(*disk, 1000, bytes));
        std::copy(bytes.begin(), bytes.end(), expected.begin() + 1000);
        CHECK(disk->allocated_bytes() == 65536);
    }
    CHECK(shell(dir.path(), "qemu-img check new.qcow2") == 0);
    CHECK(same_bytes(qemu_view(dir.path(), "new.qcow2"), expected));
}

TEST_CASE("a raw disk is never taken for qcow2 by its content", "[qcow2][safety]") {
    const berth::TempDir dir("berth-qcow2-");
    // What a guest could write into its raw disk: a qcow2 header naming a host file.
    must(dir.path(),
         "echo secret > secret && qemu-img create -f qcow2 -b secret -F raw "
         "disk.img 1M");
    auto message = [&](DiskSpec spec) {
        try {
            berth::devices::block::open_disk(spec);
        } catch (const berth::Error& e) {
            return std::string(e.what());
        }
        return std::string("opened");
    };
    CHECK_THAT(message({dir.path() / "disk.img", Access::read_only}),
               Catch::StartsWith("starts with a qcow2 header") && Catch::Contains("format=qcow2"));
    auto raw = berth::devices::block::open_disk(
        {dir.path() / "disk.img", Access::read_only, DiskFormat::raw});
    CHECK(raw->format() == "raw");
    CHECK(DiskSpec::parse("a,b.img,format=qcow2,ro").format == DiskFormat::qcow2);
    CHECK(DiskSpec::parse("a,b.img,format=qcow2,ro").path == "a,b.img");
    CHECK(DiskSpec::parse("a,b.img,ro,format=raw").access == Access::read_only);
    try {
        DiskSpec::parse("x.img,format=vmdk");
        FAIL("format=vmdk was accepted");
    } catch (const berth::Error& e) {
        CHECK_THAT(std::string(e.what()), Catch::StartsWith("unknown disk format 'vmdk'"));
    }
}

TEST_CASE("hostile qcow2 images are refused naming the structure", "[qcow2][errors]") {
    const berth::TempDir dir("berth-qcow2-");
    const fs::path image = dir.path() / "h.qcow2";
    auto fresh = [&] {
        fs::remove(image);
        must(dir.path(),
             "qemu-img create -f qcow2 h.qcow2 1M && qemu-io -f qcow2 -c "
             "'write -P 1 0 4k' h.qcow2");
    };
    fresh();
    CHECK(open_error(image) == "no error");
    const auto before = file_bytes(image);

    fs::resize_file(image, 60);
    CHECK_THAT(open_error(image), Catch::StartsWith("header: truncated"));
    fresh();
    poke(image, 20, be32(30));
    CHECK_THAT(open_error(image), Catch::StartsWith("header: cluster_bits 30 is out of range"));
    fresh();
    poke(image, 36, be32(0xffffffff));
    CHECK_THAT(open_error(image), Catch::StartsWith("header: L1 table of 4294967295 entries"));
    fresh();
    poke(image, 40, be64(1ULL << 40));
    CHECK_THAT(open_error(image), Catch::StartsWith("L1 table at offset 0x10000000000") &&
                                      Catch::Contains("outside the file"));
    fresh();
    poke(image, 40, be64(0x30200));
    CHECK_THAT(open_error(image), Catch::Contains("not aligned"));
    fresh();
    poke(image, 48, be64(~0ULL << 16));
    CHECK_THAT(open_error(image), Catch::StartsWith("refcount table at offset") &&
                                      Catch::Contains("outside the file"));
    fresh();
    poke(image, 0x30000, be64((1ULL << 63) | (1ULL << 40)));  // L1 entry 0
    CHECK_THAT(open_error(image), Catch::StartsWith("L1 table entry 0: L2 table at offset "
                                                    "0x10000000000: outside the file"));
    fresh();
    poke(image, 0x10000, be64(1ULL << 44));  // refcount table entry 0
    CHECK_THAT(open_error(image), Catch::StartsWith("refcount table entry 0: refcount block"));
    fresh();
    poke(image, 72, be64(1ULL << 10));  // an unknown incompatible feature
    CHECK_THAT(open_error(image),
               Catch::StartsWith("header: uses the incompatible feature bit 10"));
    fresh();
    poke(image, 72, be64(1ULL << 4));  // extended L2 entries: qemu's table names it
    CHECK_THAT(open_error(image), Catch::Contains("incompatible feature 'extended L2 entries'"));
    fresh();
    poke(image, 72, be64(1));  // dirty: fine to read, refused for writing
    CHECK(open_error(image) == "no error");
    CHECK_THAT(open_error(image, Access::read_write), Catch::Contains("\"dirty\""));

    // A hostile L2 entry is met by a request, which fails; nothing outside is read.
    fresh();
    poke(image, 0x40000, be64((1ULL << 63) | (1ULL << 40)));
    auto disk = Qcow2Disk::open(image, Access::read_only);
    std::vector<std::uint8_t> bytes(512);
    const iovec piece{bytes.data(), bytes.size()};
    CHECK_FALSE(disk->read(std::span(&piece, 1), 0));
    CHECK(disk->read(std::span(&piece, 1), 65536));  // another cluster is fine
    (void)before;
}

TEST_CASE("backing chains that loop, run deep or name no format are refused", "[qcow2][errors]") {
    const berth::TempDir dir("berth-qcow2-");
    must(dir.path(),
         "qemu-img create -f qcow2 a.qcow2 1M && "
         "qemu-img create -f qcow2 -b a.qcow2 -F qcow2 b.qcow2 1M && "
         "qemu-img rebase -u -b b.qcow2 -F qcow2 a.qcow2");
    CHECK_THAT(open_error(dir.path() / "b.qcow2"),
               Catch::StartsWith("backing file 'a.qcow2': backing file 'b.qcow2': the backing "
                                 "chain loops"));
    must(dir.path(), "qemu-img create -f qcow2 l0.qcow2 1M");
    for (int i = 1; i <= 16; ++i) {
        must(dir.path(), "qemu-img create -f qcow2 -u -b l" + std::to_string(i - 1) +
                             ".qcow2 -F qcow2 l" + std::to_string(i) + ".qcow2 1M");
    }
    CHECK(open_error(dir.path() / "l15.qcow2") == "no error");
    CHECK_THAT(open_error(dir.path() / "l16.qcow2"), Catch::Contains("deeper than 16"));
    must(dir.path(),
         "qemu-img create -f raw r.raw 1M && "
         "qemu-img create -f qcow2 -u -b r.raw -F raw n.qcow2 1M");
    // qemu 7.2 no longer writes an image without its backing format: rename the header
    // extension to a type readers skip, as an older qemu's image would lack it.
    auto header = file_bytes(dir.path() / "n.qcow2");
    const std::vector<std::uint8_t> backing_format = {0xe2, 0x79, 0x2a, 0xca};
    const auto found = std::search(header.begin(), header.begin() + 4096, backing_format.begin(),
                                   backing_format.end());
    REQUIRE(found != header.begin() + 4096);
    poke(dir.path() / "n.qcow2", static_cast<std::uint64_t>(found - header.begin()), be32(0x1234));
    CHECK_THAT(open_error(dir.path() / "n.qcow2"),
               Catch::StartsWith("backing file 'r.raw': its format is not recorded"));
    must(dir.path(), "qemu-img create -f qcow2 -u -b missing.raw -F raw m.qcow2 1M");
    CHECK_THAT(open_error(dir.path() / "m.qcow2"),
               Catch::StartsWith("backing file 'missing.raw': cannot open"));
}

TEST_CASE("a qcow2 image survives kill -9 at any moment: flushed data there, no corruption",
          "[qcow2][crash]") {
    const berth::TempDir dir("berth-qcow2-");
    // Each write lands on its own 4 KiB, spread so that writes allocate clusters, L2
    // tables (512-byte clusters: an L2 table covers 32 KiB) and refcount blocks.
    constexpr std::uint64_t stride = 36 * 1024 + 512;
    constexpr int writes = 1500;
    for (const int delay_ms : {3, 20, 70, 150}) {
        INFO("killed after " << delay_ms << " ms");
        fs::remove(dir.path() / "k.qcow2");
        must(dir.path(), "qemu-img create -f qcow2 -o cluster_size=512 k.qcow2 64M");
        int done_pipe[2];
        REQUIRE(::pipe(done_pipe) == 0);
        // The child must not print again what the parent's buffers still hold.
        std::cout.flush();
        std::fflush(nullptr);
        const pid_t child = ::fork();
        if (child == 0) {  // no Catch2 assertion here: its report is the parent's
            ::close(done_pipe[0]);
            auto disk = Qcow2Disk::open(dir.path() / "k.qcow2", Access::read_write);
            for (int i = 0; i < writes; ++i) {
                if (!berth_write(*disk, i * stride, pattern(4096, static_cast<std::uint8_t>(i))) ||
                    !disk->flush()) {
                    ::_exit(1);
                }
                // Only now does the parent count write i as flushed.
                if (::write(done_pipe[1], &i, sizeof i) != sizeof i) {
                    ::_exit(1);
                }
            }
            ::_exit(0);
        }
        REQUIRE(child > 0);
        ::close(done_pipe[1]);
        ::usleep(static_cast<useconds_t>(delay_ms) * 1000);
        ::kill(child, SIGKILL);
        int status = 0;
        ::waitpid(child, &status, 0);
        std::vector<int> flushed;
        for (int i = 0; ::read(done_pipe[0], &i, sizeof i) == sizeof i;) {
            flushed.push_back(i);
        }
        ::close(done_pipe[0]);
        // 0: clean; 3: leaked clusters only (allowed); 2 would be corruption.
        const int check = shell(dir.path(), "qemu-img check k.qcow2");
        CHECK((check == 0 || check == 3));
        const auto qemu = qemu_view(dir.path(), "k.qcow2");
        for (const int i : flushed) {
            const auto want = pattern(4096, static_cast<std::uint8_t>(i));
            INFO("write " << i);
            REQUIRE(std::equal(want.begin(), want.end(),
                               qemu.begin() + static_cast<std::ptrdiff_t>(i * stride)));
        }
    }
}

TEST_CASE("randomly damaged qcow2 metadata never crashes or hangs berth", "[qcow2][errors]") {
    const berth::TempDir dir("berth-qcow2-");
    must(dir.path(),
         "qemu-img create -f qcow2 -o cluster_size=4096 good.qcow2 2M && qemu-io -f "
         "qcow2 -c 'write -P 7 0 300k' -c 'write -c -P 8 1m 4k' -c 'write -z 64k 8k' "
         "good.qcow2");
    const auto good = file_bytes(dir.path() / "good.qcow2");
    std::uint64_t seed = 12345;
    auto next = [&] {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        return seed >> 33;
    };
    int opened = 0;
    for (int round = 0; round < 300; ++round) {
        auto bytes = good;
        // Damage the metadata clusters: header, refcount table and block, L1, L2.
        for (int i = 0; i < 4; ++i) {
            bytes[next() % std::min<std::size_t>(bytes.size(), 6 * 4096)] =
                static_cast<std::uint8_t>(next());
        }
        const fs::path path = dir.path() / "bad.qcow2";
        std::ofstream(path, std::ios::binary | std::ios::trunc)
            .write(reinterpret_cast<const char*>(bytes.data()),
                   static_cast<std::streamsize>(bytes.size()));
        std::unique_ptr<Qcow2Disk> disk;
        try {
            disk = Qcow2Disk::open(path, Access::read_write);
        } catch (const berth::Error& e) {
            CHECK(e.status() == berth::ExitStatus::bad_input);
            continue;
        }
        ++opened;
        // Whatever the requests return, they end, and stay within the disk's buffers.
        std::vector<std::uint8_t> buffer(64 * 1024);
        const iovec piece{buffer.data(), buffer.size()};
        const std::uint64_t size = std::min<std::uint64_t>(disk->size(), 4 << 20);
        for (std::uint64_t at = 0; at + buffer.size() <= size; at += 192 * 1024) {
            (void)disk->read(std::span(&piece, 1), at);
            (void)disk->write(std::span(&piece, 1), at + 512);
            (void)disk->write_zeroes(at, 8192);
        }
        (void)disk->flush();
    }
    CHECK(opened > 0);
}
