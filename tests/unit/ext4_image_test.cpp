// berth vm run --image: finding the kernel and initrd in ext4 images. Each test builds
// a small image with `mke2fs -d` from a directory tree (e2fsprogs; no root needed).

#include <catch2/catch.hpp>

#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/unit/byte_compare.hpp"
#include "vmm/boot/disk_boot.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/temp_dir.hpp"

using namespace berth;
namespace fs = std::filesystem;
using test::same_bytes;

namespace {

std::vector<std::uint8_t> pattern_bytes(std::size_t size, std::uint8_t seed) {
    std::vector<std::uint8_t> bytes(size);
    std::uint32_t state = seed * 2654435761U + 1;
    for (auto& byte : bytes) {
        state = state * 1664525U + 1013904223U;
        byte = static_cast<std::uint8_t>(state >> 24);
    }
    return bytes;
}

void write_file(const fs::path& path, const std::vector<std::uint8_t>& bytes) {
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    REQUIRE(out.good());
}

void write_text(const fs::path& path, const std::string& text) {
    write_file(path, std::vector<std::uint8_t>(text.begin(), text.end()));
}

std::string mke2fs_program() {
    for (const char* candidate : {"/usr/sbin/mke2fs", "/sbin/mke2fs"}) {
        if (access(candidate, X_OK) == 0) {
            return candidate;
        }
    }
    FAIL("mke2fs not found: install e2fsprogs (tools/packages.txt)");
    return {};
}

// An 8 MiB ext4 image of `tree` (as berth image build makes: whole disk, no partitions).
fs::path make_image(const TempDir& dir, const fs::path& tree) {
    const fs::path image = dir.path() / "disk.img";
    const std::string command = mke2fs_program() + " -q -F -t ext4 -L berth-test -d '" +
                                tree.string() + "' '" + image.string() + "' 8M >/dev/null";
    REQUIRE(std::system(command.c_str()) == 0);
    return image;
}

// Expects read_image_boot_files(image) to be bad input mentioning every one of `parts`.
void check_rejected(const fs::path& image, const std::vector<std::string>& parts) {
    try {
        boot::read_image_boot_files({image});
        FAIL("read_image_boot_files accepted " << image);
    } catch (const Error& e) {
        CHECK(e.status() == ExitStatus::bad_input);
        const std::string message = e.what();
        CHECK(message.find('\n') == std::string::npos);
        CHECK_THAT(message, Catch::Contains(image.string()));
        for (const auto& part : parts) {
            CHECK_THAT(message, Catch::Contains(part));
        }
    }
}

}  // namespace

TEST_CASE("the newest kernel is chosen by version order", "[boot][ext4]") {
    CHECK(boot::newest_kernel_name({"config-6.1.0-9-amd64", "vmlinuz-6.1.0-9-amd64",
                                    "vmlinuz-6.1.0-10-amd64", "vmlinuz-5.10.0-30-amd64",
                                    "initrd.img-6.1.0-11-amd64"}) == "vmlinuz-6.1.0-10-amd64");
    CHECK(boot::newest_kernel_name({"vmlinuz-6.10.1", "vmlinuz-6.9.12"}) == "vmlinuz-6.10.1");
    CHECK_FALSE(boot::newest_kernel_name({}).has_value());
    CHECK_FALSE(boot::newest_kernel_name({"vmlinuz", "vmlinuz-", "System.map-6.1"}).has_value());
}

TEST_CASE("the kernel and initrd in /boot are read byte for byte", "[boot][ext4]") {
    const TempDir dir("berth-ext4-test.");
    const fs::path tree = dir.path() / "tree";
    // Large enough to span many blocks (and extents' worth of the 1 KiB-block image).
    const auto kernel = pattern_bytes(700 * 1024 + 13, 1);
    const auto initrd = pattern_bytes(1500 * 1024 + 7, 2);
    write_file(tree / "boot/vmlinuz-6.1.0-18-amd64", kernel);
    write_file(tree / "boot/initrd.img-6.1.0-18-amd64", initrd);
    write_text(tree / "boot/config-6.1.0-18-amd64", "CONFIG_EXT4_FS=m\n");
    const auto files = boot::read_image_boot_files({make_image(dir, tree)});
    CHECK(files.kernel_path == "/boot/vmlinuz-6.1.0-18-amd64");
    CHECK(files.initrd_path == "/boot/initrd.img-6.1.0-18-amd64");
    CHECK(same_bytes(files.kernel, kernel));
    CHECK(same_bytes(files.initrd, initrd));
}

TEST_CASE("of several kernels the newest and its own initrd are taken", "[boot][ext4]") {
    const TempDir dir("berth-ext4-test.");
    const fs::path tree = dir.path() / "tree";
    for (const std::string version : {"6.1.0-9-amd64", "6.1.0-10-amd64", "5.10.0-30-amd64"}) {
        write_text(tree / "boot" / ("vmlinuz-" + version), "kernel " + version);
        write_text(tree / "boot" / ("initrd.img-" + version), "initrd " + version);
    }
    const auto files = boot::read_image_boot_files({make_image(dir, tree)});
    CHECK(files.kernel_path == "/boot/vmlinuz-6.1.0-10-amd64");
    CHECK(std::string(files.kernel.begin(), files.kernel.end()) == "kernel 6.1.0-10-amd64");
    CHECK(std::string(files.initrd.begin(), files.initrd.end()) == "initrd 6.1.0-10-amd64");
}

TEST_CASE("/vmlinuz and /initrd.img symlinks choose the kernel", "[boot][ext4]") {
    const TempDir dir("berth-ext4-test.");
    const fs::path tree = dir.path() / "tree";
    for (const std::string version : {"6.1.0-9-amd64", "6.1.0-10-amd64"}) {
        write_text(tree / "boot" / ("vmlinuz-" + version), "kernel " + version);
        write_text(tree / "boot" / ("initrd.img-" + version), "initrd " + version);
    }

    SECTION("relative links, as Debian makes them, win over the newest in /boot") {
        fs::create_symlink("boot/vmlinuz-6.1.0-9-amd64", tree / "vmlinuz");
        fs::create_symlink("boot/initrd.img-6.1.0-9-amd64", tree / "initrd.img");
        const auto files = boot::read_image_boot_files({make_image(dir, tree)});
        CHECK(files.kernel_path == "/boot/vmlinuz-6.1.0-9-amd64");
        CHECK(std::string(files.kernel.begin(), files.kernel.end()) == "kernel 6.1.0-9-amd64");
        CHECK(std::string(files.initrd.begin(), files.initrd.end()) == "initrd 6.1.0-9-amd64");
    }
    SECTION("/initrd.img is followed whatever its target is called") {
        fs::create_symlink("boot/vmlinuz-6.1.0-9-amd64", tree / "vmlinuz");
        write_text(tree / "boot/initrd-custom", "custom initrd");
        fs::create_symlink("/boot/initrd-custom", tree / "initrd.img");
        const auto files = boot::read_image_boot_files({make_image(dir, tree)});
        CHECK(files.initrd_path == "/boot/initrd-custom");
        CHECK(std::string(files.initrd.begin(), files.initrd.end()) == "custom initrd");
    }
    SECTION("a chain of links, one of them too long to live in its inode") {
        // Over 60 bytes: an ext4 "slow" symlink whose target lives in a data block.
        const std::string long_dir(70, 'd');
        fs::create_directories(tree / "boot" / long_dir);
        fs::create_symlink("/boot/" + long_dir + "/../vmlinuz-6.1.0-9-amd64", tree / "kernel");
        fs::create_symlink("/kernel", tree / "vmlinuz");
        const auto files = boot::read_image_boot_files({make_image(dir, tree)});
        CHECK(std::string(files.kernel.begin(), files.kernel.end()) == "kernel 6.1.0-9-amd64");
        // No /initrd.img: the initrd with the kernel's version, next to the kernel.
        CHECK(std::string(files.initrd.begin(), files.initrd.end()) == "initrd 6.1.0-9-amd64");
    }
    SECTION("a dangling /vmlinuz is reported, not skipped") {
        fs::create_symlink("boot/vmlinuz-7.0", tree / "vmlinuz");
        check_rejected(make_image(dir, tree),
                       {"/vmlinuz is a symlink to '/boot/vmlinuz-7.0'", "does not exist"});
    }
    SECTION("a symlink loop is reported") {
        fs::create_symlink("/vmlinuz-b", tree / "vmlinuz");
        fs::create_symlink("/vmlinuz", tree / "vmlinuz-b");
        check_rejected(make_image(dir, tree), {"/vmlinuz", "symlinks"});
    }
}

TEST_CASE("an image with a kernel but no initrd is refused, saying why", "[boot][ext4]") {
    const TempDir dir("berth-ext4-test.");
    const fs::path tree = dir.path() / "tree";
    write_text(tree / "boot/vmlinuz-6.1.0-18-amd64", "kernel");
    write_text(tree / "boot/initrd.img-6.1.0-9-amd64", "another kernel's initrd");
    check_rejected(
        make_image(dir, tree),
        {"kernel '/boot/vmlinuz-6.1.0-18-amd64' but no initrd", "/boot/initrd.img-6.1.0-18-amd64",
         "virtio_blk and ext4 as modules", "update-initramfs -c -k '6.1.0-18-amd64'"});
}

TEST_CASE("an image without a kernel is refused", "[boot][ext4]") {
    const TempDir dir("berth-ext4-test.");
    const fs::path tree = dir.path() / "tree";
    write_text(tree / "etc/hostname", "guest\n");
    SECTION("no /boot at all") {
        check_rejected(make_image(dir, tree), {"has no kernel", "/boot/vmlinuz-*"});
    }
    SECTION("a /boot with only an initrd") {
        write_text(tree / "boot/initrd.img-6.1", "initrd");
        write_text(tree / "boot/vmlinuz", "no version: not a kernel berth picks");
        check_rejected(make_image(dir, tree), {"has no kernel"});
    }
}

TEST_CASE("missing, empty and non-ext4 images are bad input", "[boot][ext4]") {
    const TempDir dir("berth-ext4-test.");
    const fs::path image = dir.path() / "disk.img";

    SECTION("missing") {
        check_rejected(image, {"cannot open disk image", "No such file"});
    }
    SECTION("a directory") {
        fs::create_directory(image);
        check_rejected(image, {"not a regular file"});
    }
    SECTION("zero-length") {
        write_file(image, {});
        check_rejected(image, {"is 0 bytes, less than one 512-byte sector"});
    }
    SECTION("too short for a superblock") {
        write_file(image, pattern_bytes(1500, 3));
        check_rejected(image, {"too short"});
    }
    SECTION("not a file system") {
        write_file(image, std::vector<std::uint8_t>(1 << 20, 'x'));
        check_rejected(image, {"is not an ext2/3/4 file system"});
    }
    SECTION("a partitioned disk") {
        std::vector<std::uint8_t> disk(1 << 20, 0);
        disk[510] = 0x55;
        disk[511] = 0xaa;
        write_file(image, disk);
        check_rejected(image, {"its MBR partition table has no Linux root file system",
                               "no partitions", "--kernel and --disk"});
    }
}

TEST_CASE("a damaged ext4 image is bad input, never a crash", "[boot][ext4]") {
    const TempDir dir("berth-ext4-test.");
    const fs::path tree = dir.path() / "tree";
    write_file(tree / "boot/vmlinuz-1.0", pattern_bytes(300 * 1024, 4));
    write_file(tree / "boot/initrd.img-1.0", pattern_bytes(300 * 1024, 5));
    const fs::path image = make_image(dir, tree);
    // The primary superblock is at byte 1024; its magic (0xEF53) at 1024 + 56.
    const auto overwrite = [&](std::streamoff offset, std::vector<char> bytes) {
        std::fstream file(image, std::ios::in | std::ios::out | std::ios::binary);
        file.seekp(offset);
        file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        REQUIRE(file.good());
    };
    SECTION("the superblock magic overwritten") {
        overwrite(1024 + 56, {0, 0});
        check_rejected(image, {"is not an ext2/3/4 file system"});
    }
    SECTION("a field of the superblock changed (its checksum no longer matches)") {
        overwrite(1024 + 24, {30});  // s_log_block_size
        check_rejected(image, {"corrupt ext4 file system", "e2fsck -f"});
    }
    SECTION("truncated after the superblock") {
        fs::resize_file(image, 64 * 1024);
        check_rejected(image, {"disk image"});
    }
}
