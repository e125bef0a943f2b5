#include <fstream>

#include <catch2/catch.hpp>

#include "vmm/common/error.hpp"
#include "vmm/common/temp_dir.hpp"
#include "vmm/container/jail.hpp"

using berth::container::Jail;

namespace {

void write_file(const std::filesystem::path& path) {
    std::ofstream(path) << "x";
}

}  // namespace

TEST_CASE("a jail names each file by its base name, a second of the same name apart",
          "[container][jail]") {
    const berth::TempDir dir("berth-jail-test-");
    std::filesystem::create_directories(dir.path() / "a");
    std::filesystem::create_directories(dir.path() / "b");
    write_file(dir.path() / "a/disk.img");
    write_file(dir.path() / "b/disk.img");
    write_file(dir.path() / "b/dev");
    Jail jail = Jail::plan((dir.path() / "jail").string(), "--jail");
    CHECK(jail.directory() == (dir.path() / "jail").string());
    CHECK(jail.add_file(dir.path() / "a/disk.img", false, "--kernel") == "/disk.img");
    CHECK(jail.add_file(dir.path() / "b/disk.img", true, "--disk") == "/2-disk.img");
    // The same file twice is bound once, read-only first, then writable apart.
    CHECK(jail.add_file(dir.path() / "a/disk.img", false, "--disk") == "/disk.img");
    CHECK(jail.add_file(dir.path() / "a/disk.img", true, "--disk") == "/3-disk.img");
    // /dev holds the devices.
    CHECK(jail.add_file(dir.path() / "b/dev", false, "--initrd") == "/2-dev");
    CHECK(jail.add_socket(dir.path() / "api.sock", "--api-socket") == "/run/api/api.sock");
}

TEST_CASE("an error from inside a jail names the user's paths", "[container][jail]") {
    const berth::TempDir dir("berth-jail-test-");
    write_file(dir.path() / "disk.img");
    write_file(dir.path() / "disk");
    Jail jail = Jail::plan((dir.path() / "jail").string(), "--jail");
    const auto user_disk = (dir.path() / "disk.img").string();
    const auto user_short = (dir.path() / "disk").string();
    REQUIRE(jail.add_file(user_disk, true, "--disk") == "/disk.img");
    REQUIRE(jail.add_file(user_short, true, "--disk") == "/disk");
    CHECK(jail.user_spelling("disk 0 (/disk.img): cannot open; disk 1 (/disk)") ==
          "disk 0 (" + user_disk + "): cannot open; disk 1 (" + user_short + ")");
    // Only whole paths: /diskette and /run/disk are not the jail's /disk.
    CHECK(jail.user_spelling("/diskette /run/disk /disk/") == "/diskette /run/disk /disk/");
}

TEST_CASE("a jail refuses what it cannot bind", "[container][jail]") {
    const berth::TempDir dir("berth-jail-test-");
    write_file(dir.path() / "file");
    std::filesystem::create_directories(dir.path() / "jail");
    write_file(dir.path() / "jail/inside.img");
    const auto refused = [](auto&& call) {
        try {
            call();
        } catch (const berth::Error& e) {
            CHECK(e.status() == berth::ExitStatus::bad_input);
            return std::string(e.what());
        }
        return std::string("(accepted)");
    };
    CHECK_THAT(refused([&] { Jail::plan((dir.path() / "file").string(), "--jail"); }),
               Catch::Contains("not a directory"));
    CHECK_THAT(refused([&] { Jail::plan((dir.path() / "no/jail").string(), "--jail"); }),
               Catch::Contains("does not exist"));
    Jail jail = Jail::plan((dir.path() / "jail").string(), "--jail");
    CHECK_THAT(refused([&] { jail.add_file(dir.path() / "missing", false, "--kernel"); }),
               Catch::StartsWith("--kernel '") && Catch::Contains("cannot read it"));
    CHECK_THAT(refused([&] { jail.add_file(dir.path(), false, "--disk"); }),
               Catch::Contains("not a file or block device"));
    CHECK_THAT(refused([&] { jail.add_file(dir.path() / "jail/inside.img", false, "--disk"); }),
               Catch::Contains("inside the jail directory"));
}
