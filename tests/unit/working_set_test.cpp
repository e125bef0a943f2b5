// A snapshot restore's working set (vmm/machine/working_set_file.hpp,
// vmm/memory/resident_pages.hpp, vmm/machine/working_set.hpp) without KVM: pagemap
// entries become runs of read and written pages, a real copy-on-write file mapping
// reports the pages touched as such, the file reads back what was written, and every
// kind of damage is refused as bad input.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "vmm/common/error.hpp"
#include "vmm/common/temp_dir.hpp"
#include "vmm/common/unique_fd.hpp"
#include "vmm/machine/working_set.hpp"
#include "vmm/machine/working_set_file.hpp"
#include "vmm/memory/guest_memory.hpp"
#include "vmm/memory/resident_pages.hpp"

namespace {

using berth::machine::decode_working_set;
using berth::machine::encode_working_set;
using berth::machine::RamSpan;
using berth::machine::WorkingSetRun;
using berth::memory::PageRun;
using berth::memory::PageUse;

constexpr std::uint64_t present = 1ULL << 63;
constexpr std::uint64_t swapped = 1ULL << 62;
constexpr std::uint64_t file_page = 1ULL << 61;
constexpr std::uint64_t page = 4096;

const std::vector<RamSpan> ram = {{0, 16 * page}, {0x100000000ULL, 8 * page}};

std::string refusal(const std::vector<std::uint8_t>& bytes) {
    try {
        decode_working_set(bytes, ram);
    } catch (const berth::Error& e) {
        CHECK(e.status() == berth::ExitStatus::bad_input);
        return e.what();
    }
    FAIL("decoding did not throw");
    return {};
}

void put_u64(std::vector<std::uint8_t>& bytes, std::size_t at, std::uint64_t value) {
    for (int i = 0; i < 8; ++i) {
        bytes[at + i] = static_cast<std::uint8_t>(value >> (8 * i));
    }
}

}  // namespace

TEST_CASE("pagemap entries become runs of read and written pages", "[working-set]") {
    const std::vector<std::uint64_t> entries = {
        0,                          // 0: absent
        present | file_page | 123,  // 1-2: read (the file's page)
        present | file_page | 124,
        present | 77,  // 3: written (a private copy)
        swapped,       // 4: written, swapped out
        0,             // 5: absent
        present | file_page,
    };
    CHECK(berth::memory::page_runs(entries) == std::vector<PageRun>{{1, 2, PageUse::read},
                                                                    {3, 2, PageUse::written},
                                                                    {6, 1, PageUse::read}});
    CHECK(berth::memory::page_runs(std::vector<std::uint64_t>(8, 0)).empty());
}

// The kernel's own answer for a copy-on-write file mapping, as a lazy restore maps its
// memory file: a page read is the file's, a page written is copied, one untouched absent.
TEST_CASE("a copy-on-write file mapping's touched pages read back from pagemap", "[working-set]") {
    const berth::TempDir dir("berth-working-set-test-");
    const auto path = dir.path() / "memory";
    berth::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    REQUIRE(fd);
    const std::vector<std::uint8_t> data(64 * page, 0x5a);
    REQUIRE(::pwrite(fd.get(), data.data(), data.size(), 0) == static_cast<ssize_t>(data.size()));

    berth::memory::GuestRam memory;
    memory.add_file_ram(0, 64 * page, fd.get(), 0);
    // Far apart, so that the kernel's fault-around (it maps cached neighbours of a page
    // read, up to 64 KiB) cannot join them.
    CHECK(memory.read_object<std::uint8_t>(40 * page) == 0x5a);
    memory.write_object<std::uint8_t>(8 * page + 3, 1);

    berth::UniqueFd pagemap(::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
    REQUIRE(pagemap);
    const auto runs = berth::machine::resident_working_set(pagemap.get(), memory);
    bool read_seen = false;
    bool written_seen = false;
    for (const auto& run : runs) {
        const bool holds_read =
            run.guest_address <= 40 * page && 40 * page < run.guest_address + run.pages * page;
        const bool holds_written =
            run.guest_address <= 8 * page && 8 * page < run.guest_address + run.pages * page;
        if (holds_read) {
            CHECK(run.use == PageUse::read);
            read_seen = true;
        }
        if (holds_written) {
            CHECK(run.use == PageUse::written);
            CHECK(run.pages == 1);  // only the page written was copied
            written_seen = true;
        }
        CHECK(run.use == (holds_written ? PageUse::written : PageUse::read));
    }
    CHECK(read_seen);
    CHECK(written_seen);

    // Populating for write copies pages without changing them.
    memory.regions().front().mapping.populate_for_write(20 * page, 2 * page);
    const auto after = berth::machine::resident_working_set(pagemap.get(), memory);
    bool populated = false;
    for (const auto& run : after) {
        if (run.guest_address <= 20 * page && 22 * page <= run.guest_address + run.pages * page) {
            populated = run.use == PageUse::written;
        }
    }
    CHECK(populated);
    CHECK(memory.read_object<std::uint8_t>(21 * page) == 0x5a);
    std::uint8_t in_file = 0;
    REQUIRE(::pread(fd.get(), &in_file, 1, 8 * page + 3) == 1);
    CHECK(in_file == 0x5a);  // the file is never written
}

TEST_CASE("the working-set file reads back what was written", "[working-set]") {
    const std::vector<WorkingSetRun> runs = {{0, 3, PageUse::read},
                                             {3 * page, 1, PageUse::written},
                                             {15 * page, 1, PageUse::read},
                                             {0x100000000ULL, 8, PageUse::written}};
    CHECK(decode_working_set(encode_working_set(runs), ram) == runs);
    CHECK(decode_working_set(encode_working_set({}), ram).empty());
}

TEST_CASE("a damaged working-set file is refused with what is wrong and the fix", "[working-set]") {
    const std::vector<WorkingSetRun> runs = {{page, 2, PageUse::read},
                                             {8 * page, 1, PageUse::written}};
    const auto good = encode_working_set(runs);
    const std::string fix = "delete it (the next restore records it again)";

    CHECK_THAT(refusal({'n', 'o', 'p', 'e'}), Catch::Contains("no BERTHWKS magic"));
    CHECK_THAT(refusal(std::vector<std::uint8_t>(good.begin(), good.begin() + 12)),
               Catch::Contains("truncated") && Catch::Contains(fix));
    CHECK_THAT(refusal(std::vector<std::uint8_t>(good.begin(), good.end() - 16)),
               Catch::Contains("truncated"));
    CHECK_THAT(refusal(std::vector<std::uint8_t>(good.begin(), good.end() - 3)),
               Catch::Contains("truncated"));
    auto longer = good;
    longer.insert(longer.end(), {1, 2, 3});
    CHECK_THAT(refusal(longer), Catch::Contains("damaged"));

    auto version = good;
    version[8] = 9;
    CHECK_THAT(refusal(version), Catch::Contains("format version 9"));

    auto flipped = good;
    flipped.back() ^= 0x40;
    CHECK_THAT(refusal(flipped), Catch::Contains("checksum"));

    // Runs that a checksum cannot catch (written so): outside RAM, across its end, out
    // of order, unaligned, empty, an unknown use.
    const auto check_runs = [&](std::vector<std::uint8_t> bytes) {
        CHECK_THAT(refusal(bytes), Catch::Contains("is not a piece of the snapshot's RAM"));
    };
    check_runs(encode_working_set(std::vector<WorkingSetRun>{{0x80000000, 1, PageUse::read}}));
    check_runs(encode_working_set(std::vector<WorkingSetRun>{{15 * page, 2, PageUse::read}}));
    check_runs(encode_working_set(
        std::vector<WorkingSetRun>{{8 * page, 1, PageUse::read}, {page, 1, PageUse::read}}));
    check_runs(encode_working_set(std::vector<WorkingSetRun>{{page + 8, 1, PageUse::read}}));
    check_runs(encode_working_set(std::vector<WorkingSetRun>{{page, 0, PageUse::read}}));
    auto use = encode_working_set(std::vector<WorkingSetRun>{{page, 1, PageUse::written}});
    use[24 + 12] = 7;  // the use, then the checksum made to match it
    const auto crc = static_cast<std::uint32_t>(::crc32(0L, use.data() + 24, 16));
    for (int i = 0; i < 4; ++i) {
        use[12 + i] = static_cast<std::uint8_t>(crc >> (8 * i));
    }
    check_runs(use);

    auto count = good;
    put_u64(count, 16, 1ULL << 40);
    CHECK_THAT(refusal(count), Catch::Contains("truncated"));
}
