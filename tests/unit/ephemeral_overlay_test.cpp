// vm run --ephemeral's overlay (devices/block/ephemeral_overlay.hpp): a qcow2 image in
// a directory of its own over the image the user named; writes land in it, the base
// keeps its bytes, and the directory is gone with the overlay. qemu-img reads the
// overlay back to confirm its backing file and format.

#include <catch2/catch.hpp>

#include <sys/uio.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "devices/block/ephemeral_overlay.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/temp_dir.hpp"

using namespace berth;
namespace fs = std::filesystem;
using devices::block::Access;
using devices::block::DiskFormat;
using devices::block::DiskSpec;
using devices::block::EphemeralOverlay;

namespace {

std::string read_all(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string command_output(const std::string& command) {
    std::string out;
    FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    char buffer[4096];
    while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) {
        out += buffer;
    }
    ::pclose(pipe);
    return out;
}

}  // namespace

TEST_CASE("an ephemeral overlay takes the writes; the base keeps its bytes; nothing stays",
          "[qcow2][ephemeral]") {
    const TempDir dir("berth-ephemeral-test.");
    const fs::path base = dir.path() / "base.raw";
    {
        std::ofstream out(base, std::ios::binary);
        out << std::string(1 << 20, 'b');
    }
    const std::string before = read_all(base);
    fs::path overlay_dir;
    {
        const EphemeralOverlay overlay = EphemeralOverlay::create({base});
        overlay_dir = overlay.path().parent_path();
        CHECK(overlay_dir.filename().string().starts_with("berth-ephemeral."));
        const std::string info =
            command_output("qemu-img info --output=json '" + overlay.path().string() + "'");
        CHECK_THAT(info, Catch::Contains("\"backing-filename\": \"" + base.string() + "\""));
        CHECK_THAT(info, Catch::Contains("\"backing-filename-format\": \"raw\""));
        CHECK_THAT(info, Catch::Contains("\"virtual-size\": 1048576"));

        const DiskSpec spec = overlay.disk();
        CHECK(spec.format == DiskFormat::qcow2);
        CHECK(spec.access == Access::read_write);
        auto disk = devices::block::open_disk(spec);
        std::string written(4096, 'w');
        const iovec from{written.data(), written.size()};
        REQUIRE(disk->write(std::span(&from, 1), 8192));
        REQUIRE(disk->flush());
        std::string back(3 * 4096, '\0');
        const iovec to{back.data(), back.size()};
        REQUIRE(disk->read(std::span(&to, 1), 4096));
        CHECK(back == std::string(4096, 'b') + written + std::string(4096, 'b'));
        CHECK(read_all(base) == before);
    }
    CHECK_FALSE(fs::exists(overlay_dir));
    CHECK(read_all(base) == before);
}

TEST_CASE("an ephemeral overlay over a qcow2 base needs format=qcow2", "[qcow2][ephemeral]") {
    const TempDir dir("berth-ephemeral-test.");
    const fs::path base = dir.path() / "base.qcow2";
    REQUIRE(std::system(("qemu-img create -q -f qcow2 '" + base.string() + "' 1M").c_str()) == 0);
    try {
        (void)EphemeralOverlay::create({base});
        FAIL("a qcow2 base without format=qcow2 was accepted");
    } catch (const Error& e) {
        CHECK(e.status() == ExitStatus::bad_input);
        CHECK_THAT(std::string(e.what()), Catch::Contains("starts with a qcow2 header"));
    }
    const EphemeralOverlay overlay =
        EphemeralOverlay::create({base, Access::read_only, DiskFormat::qcow2});
    CHECK_THAT(command_output("qemu-img info --output=json '" + overlay.path().string() + "'"),
               Catch::Contains("\"backing-filename-format\": \"qcow2\""));
    CHECK_THROWS_AS(EphemeralOverlay::create({dir.path() / "missing.img"}), Error);
}
