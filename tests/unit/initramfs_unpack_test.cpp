// bench/initramfs_image: a hostile archive stays inside the folder it is unpacked into,
// and a decompression bomb is a size error.

#include <sys/stat.h>
#include <zlib.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/unit/cpio_builder.hpp"
#include "vmm/bench/initramfs_image.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/temp_dir.hpp"

using namespace berth;
using namespace berth::bench;
using berth::test::add_cpio_entry;
namespace fs = std::filesystem;

namespace {

// Unpacks `bytes` into a fresh folder next to a folder `outside` the archive aims at;
// returns the error's text (empty when it unpacked). Nothing may appear in `outside`.
struct Unpacked {
    std::string error;
    bool outside_untouched = true;
    fs::path into;
};

Unpacked unpack_next_to(const TempDir& outside, std::vector<std::uint8_t> bytes,
                        const TempDir& into) {
    berth::test::add_cpio_trailer(bytes);
    Unpacked result;
    result.into = into.path();
    const auto before = fs::status(outside.path()).permissions();
    try {
        InitramfsImage::parse(std::move(bytes), "hostile.cpio").unpack(into.path());
    } catch (const Error& e) {
        CHECK(e.status() == ExitStatus::bad_input);
        result.error = e.what();
        CHECK(result.error.find('\n') == std::string::npos);
    }
    result.outside_untouched =
        fs::is_empty(outside.path()) && fs::status(outside.path()).permissions() == before;
    return result;
}

}  // namespace

TEST_CASE("an archive cannot write through a symlink it made") {
    const TempDir outside("berth-outside-"), into("berth-unpack-");
    std::vector<std::uint8_t> bytes;
    add_cpio_entry(bytes, "escape", 0120777, outside.path().string());
    add_cpio_entry(bytes, "escape/pwned", 0100644, "owned\n");
    const Unpacked result = unpack_next_to(outside, bytes, into);
    CHECK(result.outside_untouched);
    CHECK_THAT(result.error, Catch::Contains("'escape/pwned'") && Catch::Contains("symlink"));
}

TEST_CASE("an archive cannot replace its symlink with a file that lands outside") {
    const TempDir outside("berth-outside-"), into("berth-unpack-");
    std::vector<std::uint8_t> bytes;
    add_cpio_entry(bytes, "file", 0120777, (outside.path() / "target").string());
    add_cpio_entry(bytes, "file", 0100644, "owned\n");
    const Unpacked result = unpack_next_to(outside, bytes, into);
    CHECK(result.outside_untouched);
    // The later entry replaces the link itself, as the kernel's unpacker does.
    CHECK(result.error.empty());
    CHECK(fs::is_regular_file(fs::symlink_status(into.path() / "file")));
}

TEST_CASE("an archive cannot chmod a directory through its symlink") {
    const TempDir outside("berth-outside-"), into("berth-unpack-");
    std::vector<std::uint8_t> bytes;
    add_cpio_entry(bytes, "dir", 0120777, outside.path().string());
    add_cpio_entry(bytes, "dir", 040777, "");
    const Unpacked result = unpack_next_to(outside, bytes, into);
    CHECK(result.outside_untouched);
    CHECK_THAT(result.error, Catch::Contains("'dir'"));
}

TEST_CASE("names that climb out, absolute names and NULs in names are refused") {
    for (const std::string& name :
         std::vector<std::string>{"../escape", "a/../../escape", "/abs-escape", "./../escape",
                                  std::string("a\0/b", 4)}) {
        INFO(name);
        const TempDir outside("berth-outside-"), into("berth-unpack-");
        std::vector<std::uint8_t> bytes;
        add_cpio_entry(bytes, name, 0100644, "owned\n");
        const Unpacked result = unpack_next_to(outside, bytes, into);
        CHECK(result.outside_untouched);
        CHECK_FALSE(result.error.empty());
        CHECK(fs::exists(into.path().parent_path() / "escape") == false);
        CHECK(fs::exists("/abs-escape") == false);
    }
}

TEST_CASE("device nodes, fifos and set-ID bits are not unpacked") {
    const TempDir outside("berth-outside-"), into("berth-unpack-");
    std::vector<std::uint8_t> bytes;
    add_cpio_entry(bytes, "sda", 060660, "");
    add_cpio_entry(bytes, "null", 020666, "");
    add_cpio_entry(bytes, "fifo", 010644, "");
    add_cpio_entry(bytes, "suid", 0104755, "#!/bin/sh\n");
    const Unpacked result = unpack_next_to(outside, bytes, into);
    CHECK(result.error.empty());
    CHECK_FALSE(fs::exists(fs::symlink_status(into.path() / "sda")));
    CHECK_FALSE(fs::exists(fs::symlink_status(into.path() / "null")));
    CHECK_FALSE(fs::exists(fs::symlink_status(into.path() / "fifo")));
    struct stat info {};
    REQUIRE(::lstat((into.path() / "suid").c_str(), &info) == 0);
    CHECK((info.st_mode & 07777) == 0755);
}

TEST_CASE("a gzip bomb is a one-line size error, not an allocation failure") {
    const TempDir scratch("berth-bomb-");
    const fs::path bomb = scratch.path() / "bomb.cpio.gz";
    {
        // 4 MiB of zeros, a few KiB gzip'd.
        gzFile out = gzopen(bomb.c_str(), "wb9");
        REQUIRE(out != nullptr);
        const std::vector<char> zeros(1 << 20, 0);
        for (int i = 0; i < 4; ++i) {
            REQUIRE(gzwrite(out, zeros.data(), static_cast<unsigned>(zeros.size())) > 0);
        }
        gzclose(out);
    }
    try {
        InitramfsImage::read(bomb, 1 << 20);
        FAIL("read");
    } catch (const Error& e) {
        CHECK(e.status() == ExitStatus::bad_input);
        CHECK_THAT(e.what(), Catch::Contains("more than 1 MiB"));
    }
}
