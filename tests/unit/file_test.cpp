#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "vmm/common/error.hpp"
#include "vmm/common/file.hpp"
#include "vmm/common/temp_dir.hpp"

using berth::InputKinds;
using berth::InputUse;
using berth::open_input_file;
using berth::OutputFile;

namespace {

// Writes `text` to a new file `name` in `dir`; its path.
std::filesystem::path write_file(const berth::TempDir& dir, const std::string& name,
                                 const std::string& text) {
    std::ofstream(dir.path() / name) << text;
    return dir.path() / name;
}

std::string contents(const std::filesystem::path& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

const berth::InputHints hints{"fix it"};

}  // namespace

TEST_CASE("an input FIFO is refused at once, not waited on", "[file]") {
    const berth::TempDir dir("berth-file-");
    const auto fifo = dir.path() / "fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    for (const auto use :
         {InputUse::read, InputUse::attach_read_only, InputUse::attach_read_write}) {
        CHECK_THROWS_WITH(
            open_input_file(fifo, use, InputKinds::regular_file_or_block_device, hints),
            "is a FIFO (named pipe), not a regular file or block device; fix it");
    }
    CHECK_THROWS_WITH(berth::read_input_file(fifo, "kernel"),
                      Catch::StartsWith("cannot read kernel " + fifo.string() + ": is a FIFO"));
}

TEST_CASE("character devices and directories are no input files", "[file]") {
    CHECK_THROWS_WITH(open_input_file("/dev/zero", InputUse::read, InputKinds::regular_file, hints),
                      "is a character device, not a regular file; fix it");
    CHECK_THROWS_WITH(open_input_file("/", InputUse::read, InputKinds::regular_file, hints),
                      "is a directory, not a regular file; fix it");
}

TEST_CASE("an input larger than allowed is refused before it is read", "[file]") {
    const berth::TempDir dir("berth-file-");
    const auto big = dir.path() / "big";
    { std::ofstream(big) << ""; }
    std::filesystem::resize_file(big, 1ULL << 40);  // 1 TiB of holes
    CHECK_THROWS_WITH(berth::read_input_file(big, "kernel", 1 << 20),
                      Catch::Contains("is 1099511627776 bytes, more than a kernel can be"));
}

TEST_CASE("one file attached twice: refused unless both are read-only", "[file]") {
    const berth::TempDir dir("berth-file-");
    const auto disk = write_file(dir, "disk", "x");
    {
        const auto read = open_input_file(disk, InputUse::read, InputKinds::regular_file, hints);
        const auto rw =
            open_input_file(disk, InputUse::attach_read_write, InputKinds::regular_file, hints);
        CHECK_THROWS_WITH(
            open_input_file(disk, InputUse::attach_read_only, InputKinds::regular_file, hints),
            Catch::Contains("same file as another disk"));
        CHECK_THROWS_WITH(open_input_file(dir.path() / "." / "disk", InputUse::attach_read_write,
                                          InputKinds::regular_file, hints),
                          Catch::Contains("same file as another disk"));
    }
    // The read-write attachment is gone with its file: a reboot opens it again.
    const auto again =
        open_input_file(disk, InputUse::attach_read_write, InputKinds::regular_file, hints);
    const berth::TempDir second_dir("berth-file-");
    const auto other = write_file(second_dir, "other", "y");
    const auto ro1 =
        open_input_file(other, InputUse::attach_read_only, InputKinds::regular_file, hints);
    CHECK_NOTHROW(
        open_input_file(other, InputUse::attach_read_only, InputKinds::regular_file, hints));
}

TEST_CASE("an output replaces its file only when committed", "[file]") {
    const berth::TempDir dir("berth-file-");
    const auto target = write_file(dir, "out.json", "old\n");
    {
        auto output = OutputFile::create(target, "trace file");
        output.write("new\n");
        CHECK(contents(target) == "old\n");
    }
    CHECK(contents(target) == "old\n");
    {
        auto output = OutputFile::create(target, "trace file");
        output.write("new\n");
        output.commit();
    }
    CHECK(contents(target) == "new\n");
    CHECK(std::distance(std::filesystem::directory_iterator(dir.path()),
                        std::filesystem::directory_iterator()) == 1);
}

TEST_CASE("an output through a symlink replaces the file, not the link", "[file]") {
    const berth::TempDir dir("berth-file-");
    const auto target = write_file(dir, "real.json", "old\n");
    std::filesystem::create_symlink("real.json", dir.path() / "link.json");
    auto output = OutputFile::create(dir.path() / "link.json", "trace file");
    output.write("new\n");
    output.commit();
    CHECK(std::filesystem::is_symlink(dir.path() / "link.json"));
    CHECK(contents(target) == "new\n");
}

TEST_CASE("an output that is an input of the run is refused", "[file]") {
    const berth::TempDir dir("berth-file-");
    const auto image = write_file(dir, "image", "precious\n");
    const auto input = open_input_file(image, InputUse::read, InputKinds::regular_file, hints);
    std::filesystem::create_hard_link(image, dir.path() / "alias");
    for (const auto& path : {image, dir.path() / "alias"}) {
        try {
            OutputFile::create(path, "trace file");
            FAIL("no error for " << path);
        } catch (const berth::Error& e) {
            CHECK(e.status() == berth::ExitStatus::bad_input);
            CHECK_THAT(e.what(), Catch::Contains("is also an input of this run"));
        }
    }
    CHECK(contents(image) == "precious\n");
}

TEST_CASE("a file read again (a rebooting guest's kernel) keeps no second descriptor", "[file]") {
    const berth::TempDir dir("berth-file-");
    const auto kernel = write_file(dir, "kernel", "bzImage\n");
    const auto open_descriptors = [] {
        return std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                             std::filesystem::directory_iterator());
    };
    CHECK(berth::read_input_file(kernel, "kernel", 1 << 20).size() == 8);
    const auto after_first = open_descriptors();
    for (int boot = 0; boot < 3; ++boot) {
        CHECK(berth::read_input_file(kernel, "kernel", 1 << 20).size() == 8);
    }
    CHECK(open_descriptors() == after_first);
    // Still remembered as an input: an output may not overwrite it.
    CHECK_THROWS_WITH(OutputFile::create(kernel, "trace file"),
                      Catch::Contains("is also an input of this run"));
}

TEST_CASE("an output that is a special file is refused", "[file]") {
    CHECK_THROWS_WITH(OutputFile::create("/dev/null", "trace file"),
                      Catch::Contains("trace file /dev/null is a character device"));
}
