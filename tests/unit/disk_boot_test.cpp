// berth vm run --image on partitioned disks: GPT and MBR tables made by sfdisk (fdisk),
// ext4 partitions made by mke2fs -E offset= (e2fsprogs), qcow2 copies by qemu-img
// convert (qemu-utils); the partition table (devices/block/partition_table.hpp) and
// the boot files and command line found on them (vmm/boot/disk_boot.hpp).

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "devices/block/disk_spec.hpp"
#include "devices/block/partition_table.hpp"
#include "vmm/boot/disk_boot.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/temp_dir.hpp"

using namespace berth;
namespace fs = std::filesystem;
using devices::block::Access;
using devices::block::DiskFormat;
using devices::block::DiskSpec;
using devices::block::PartitionRole;
using devices::block::PartitionScheme;

namespace {

constexpr std::uint64_t mib = 1 << 20;
constexpr const char* root_uuid = "0b7a6b2c-1d2e-4f50-8a9b-0c1d2e3f4a5b";
constexpr const char* linux_fs_type = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
constexpr const char* efi_type = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";

void write_text(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    out << text;
    REQUIRE(out.good());
}

void run(const std::string& command) {
    INFO(command);
    REQUIRE(std::system((command + " >/dev/null 2>&1").c_str()) == 0);
}

std::string sbin(const std::string& program) {
    for (const char* directory : {"/usr/sbin/", "/sbin/", "/usr/bin/"}) {
        if (access((directory + program).c_str(), X_OK) == 0) {
            return directory + program;
        }
    }
    FAIL(program << " not found: install fdisk, e2fsprogs and qemu-utils (tools/packages.txt)");
    return {};
}

// A disk of `size_mib` MiB partitioned by sfdisk from `script`.
fs::path make_disk(const TempDir& dir, const std::string& name, std::uint64_t size_mib,
                   const std::string& script) {
    const fs::path disk = dir.path() / name;
    run("truncate -s " + std::to_string(size_mib) + "M '" + disk.string() + "'");
    write_text(dir.path() / "sfdisk.script", script);
    run(sbin("sfdisk") + " -q '" + disk.string() + "' < '" +
        (dir.path() / "sfdisk.script").string() + "'");
    return disk;
}

// An ext4 file system of `tree`, `size_mib` MiB, written at `offset` into `disk`.
void make_ext4(const fs::path& disk, std::uint64_t offset, std::uint64_t size_mib,
               const fs::path& tree, const std::string& uuid = root_uuid) {
    run(sbin("mke2fs") + " -q -F -t ext4 -U " + uuid + " -E offset=" + std::to_string(offset) +
        " -d '" + tree.string() + "' '" + disk.string() + "' " + std::to_string(size_mib) + "M");
}

std::unique_ptr<devices::block::BlockBackend> open_raw(const fs::path& disk) {
    return devices::block::open_disk(DiskSpec{disk, Access::read_only, DiskFormat::raw});
}

std::string text(const std::vector<std::uint8_t>& bytes) {
    return std::string(bytes.begin(), bytes.end());
}

void check_rejected(const DiskSpec& spec, const std::vector<std::string>& parts) {
    try {
        boot::read_image_boot_files(spec);
        FAIL("read_image_boot_files accepted " << spec.path);
    } catch (const Error& e) {
        CHECK(e.status() == ExitStatus::bad_input);
        const std::string message = e.what();
        CHECK(message.find('\n') == std::string::npos);
        CHECK_THAT(message, Catch::Contains(spec.path.string()));
        for (const auto& part : parts) {
            CHECK_THAT(message, Catch::Contains(part));
        }
    }
}

// A GPT disk as cloud images have: an EFI system partition (1, no file system here) and
// a Linux root (2) with the kernel, initrd and grub.cfg in /boot.
fs::path make_gpt_root_disk(const TempDir& dir, const std::string& grub_cfg) {
    const fs::path disk =
        make_disk(dir, "gpt.img", 24,
                  std::string("label: gpt\nstart=2048, size=4096, type=") + efi_type +
                      "\nstart=6144, size=32768, type=" + linux_fs_type +
                      ", uuid=11111111-2222-3333-4444-555555555555, name=root\n");
    const fs::path tree = dir.path() / "root";
    write_text(tree / "boot/vmlinuz-6.1.0-18-amd64", "the kernel");
    write_text(tree / "boot/initrd.img-6.1.0-18-amd64", "the initrd");
    write_text(tree / "boot/grub/grub.cfg", grub_cfg);
    write_text(tree / "etc/hostname", "cloud\n");
    make_ext4(disk, 6144 * 512, 16, tree);
    return disk;
}

const std::string debian_like_grub_cfg =
    std::string(
        "set default=\"0\"\nmenuentry 'Debian GNU/Linux' --id gnulinux-simple {\n"
        "\tlinux\t/boot/vmlinuz-6.1.0-18-amd64 root=UUID=") +
    root_uuid +
    " ro console=tty0 console=ttyS0,115200 quiet\n\tinitrd\t/boot/initrd.img-6.1.0-18-amd64\n}\n";

}  // namespace

TEST_CASE("a GPT made by sfdisk: partitions, types, GUIDs, names", "[boot][partitions]") {
    const TempDir dir("berth-disk-boot-test.");
    const fs::path disk = make_gpt_root_disk(dir, debian_like_grub_cfg);
    const auto table = devices::block::read_partition_table(*open_raw(disk));
    CHECK(table.scheme == PartitionScheme::gpt);
    CHECK_FALSE(table.used_backup_gpt);
    REQUIRE(table.partitions.size() == 2);
    CHECK(table.partitions[0].number == 1);
    CHECK(table.partitions[0].role == PartitionRole::efi_system);
    CHECK(table.partitions[0].offset == 2048 * 512);
    CHECK(table.partitions[0].size == 4096 * 512);
    CHECK(table.partitions[1].number == 2);
    CHECK(table.partitions[1].role == PartitionRole::data);
    CHECK(table.partitions[1].offset == 6144 * 512);
    CHECK(table.partitions[1].size == 32768 * 512);
    CHECK(table.partitions[1].type == "0fc63daf-8483-4772-8e79-3d69d8477de4");
    CHECK(table.partitions[1].uuid == "11111111-2222-3333-4444-555555555555");
    CHECK(table.partitions[1].name == "root");
}

TEST_CASE("a GPT disk boots its grub.cfg default entry, raw or qcow2", "[boot][partitions]") {
    const TempDir dir("berth-disk-boot-test.");
    const fs::path disk = make_gpt_root_disk(dir, debian_like_grub_cfg);
    const std::string expected_cmdline = std::string("root=UUID=") + root_uuid + " ro quiet";
    const auto check_files = [&](const boot::ImageBootFiles& files) {
        CHECK(files.kernel_path == "/boot/vmlinuz-6.1.0-18-amd64");
        CHECK(text(files.kernel) == "the kernel");
        CHECK(files.initrd_path == "/boot/initrd.img-6.1.0-18-amd64");
        CHECK(text(files.initrd) == "the initrd");
        CHECK(files.cmdline == expected_cmdline);
        CHECK_THAT(files.source,
                   Catch::Contains("partition 2") &&
                       Catch::Contains("/boot/grub/grub.cfg entry 'Debian GNU/Linux'"));
    };
    SECTION("raw, format unspecified") {
        check_files(boot::read_image_boot_files({disk}));
    }
    SECTION("qcow2, compressed clusters, through its clusters") {
        const fs::path qcow2 = dir.path() / "gpt.qcow2";
        run(sbin("qemu-img") + " convert -c -f raw -O qcow2 '" + disk.string() + "' '" +
            qcow2.string() + "'");
        check_files(boot::read_image_boot_files({qcow2, Access::read_write, DiskFormat::qcow2}));
        // Without format=qcow2 the file is raw, and its qcow2 header is refused.
        check_rejected({qcow2}, {"starts with a qcow2 header", "format=qcow2"});
    }
    SECTION("a qcow2 overlay whose backing file is the raw disk") {
        const fs::path overlay = dir.path() / "overlay.qcow2";
        run(sbin("qemu-img") + " create -f qcow2 -F raw -b '" + disk.string() + "' '" +
            overlay.string() + "'");
        check_files(boot::read_image_boot_files({overlay, Access::read_write, DiskFormat::qcow2}));
    }
}

TEST_CASE("a damaged primary GPT falls back to the backup; both damaged is bad input",
          "[boot][partitions]") {
    const TempDir dir("berth-disk-boot-test.");
    const fs::path disk = make_gpt_root_disk(dir, debian_like_grub_cfg);
    const auto poke = [&](std::uint64_t offset) {
        std::fstream file(disk, std::ios::in | std::ios::out | std::ios::binary);
        file.seekp(static_cast<std::streamoff>(offset));
        file.put('\x5a');
        REQUIRE(file.good());
    };
    poke(512 + 40);  // the primary header's first usable LBA: its CRC32 no longer matches
    const auto table = devices::block::read_partition_table(*open_raw(disk));
    CHECK(table.used_backup_gpt);
    CHECK(table.partitions.size() == 2);
    CHECK(boot::read_image_boot_files({disk}).cmdline ==
          std::string("root=UUID=") + root_uuid + " ro quiet");
    SECTION("the backup header damaged too") {
        poke(fs::file_size(disk) - 512 + 40);
        check_rejected({disk}, {"no usable GPT", "primary GPT header (LBA 1) fails its CRC32",
                                "backup GPT header", "gdisk"});
    }
    SECTION("the primary's entry array damaged and the backup's header") {
        poke(2 * 512 + 32);  // entry 1's first LBA
        poke(fs::file_size(disk) - 512 + 40);
        check_rejected({disk}, {"no usable GPT"});
    }
    SECTION("the disk truncated: the backup is gone and the partitions run past the end") {
        fs::resize_file(disk, 10 * mib);
        check_rejected({disk},
                       {"no usable GPT", "backup GPT header (LBA 20479) has no \"EFI PART\""});
    }
}

TEST_CASE("an MBR disk with the root in a logical partition and no boot loader config",
          "[boot][partitions]") {
    const TempDir dir("berth-disk-boot-test.");
    const fs::path disk = make_disk(dir, "mbr.img", 24,
                                    "label: dos\nlabel-id: 0x1234abcd\nstart=2048, size=2048, "
                                    "type=82\nstart=4096, type=5\nstart=6144, size=32768, "
                                    "type=83\n");
    const fs::path tree = dir.path() / "root";
    write_text(tree / "boot/vmlinuz-6.1.0-18-amd64", "the kernel");
    write_text(tree / "boot/initrd.img-6.1.0-18-amd64", "the initrd");
    make_ext4(disk, 6144 * 512, 16, tree);
    const auto table = devices::block::read_partition_table(*open_raw(disk));
    CHECK(table.scheme == PartitionScheme::mbr);
    CHECK(table.disk_id == "1234abcd");
    REQUIRE(table.partitions.size() == 3);
    CHECK(table.partitions[0].role == PartitionRole::swap);
    CHECK(table.partitions[1].role == PartitionRole::extended);
    CHECK(table.partitions[2].number == 5);
    CHECK(table.partitions[2].offset == 6144 * 512);
    CHECK(table.partitions[2].uuid == "1234abcd-05");
    const auto files = boot::read_image_boot_files({disk});
    CHECK(files.kernel_path == "/boot/vmlinuz-6.1.0-18-amd64");
    CHECK(files.cmdline == "root=/dev/vda5 rw");

    SECTION("a chain of EBRs that loops") {
        // The first EBR (at the extended partition's start, sector 4096) links to a second
        // at relative sector 1, which links to itself.
        std::fstream file(disk, std::ios::in | std::ios::out | std::ios::binary);
        const char to_second[16] = {0, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0};
        file.seekp(4096 * 512 + 446 + 16);
        file.write(to_second, sizeof to_second);
        std::vector<char> second(512, 0);
        std::copy(std::begin(to_second), std::end(to_second), second.begin() + 446 + 16);
        second[510] = 0x55;
        second[511] = static_cast<char>(0xaa);
        file.seekp(4097 * 512);
        file.write(second.data(), static_cast<std::streamsize>(second.size()));
        REQUIRE(file.good());
        file.close();
        check_rejected({disk}, {"chain of EBRs loops", "sector 4097"});
    }
    SECTION("a partition past the end of the disk") {
        fs::resize_file(disk, 10 * mib);
        check_rejected({disk}, {"MBR partition 2", "outside the disk"});
    }
}

TEST_CASE("a separate /boot partition with BLS entries, root= from the entry",
          "[boot][partitions]") {
    const TempDir dir("berth-disk-boot-test.");
    const fs::path disk =
        make_disk(dir, "bls.img", 40,
                  std::string("label: gpt\nstart=2048, size=16384, type=") + linux_fs_type +
                      "\nstart=18432, size=32768, type=" + linux_fs_type + "\n");
    const fs::path boot_tree = dir.path() / "boot";
    write_text(boot_tree / "vmlinuz-6.10.11", "kernel 6.10");
    write_text(boot_tree / "initramfs-6.10.11.img", "initramfs 6.10");
    write_text(boot_tree / "vmlinuz-6.5.6", "kernel 6.5");
    write_text(boot_tree / "loader/entries/a-6.10.11.conf",
               "title Fedora (6.10.11)\nversion 6.10.11\nlinux /vmlinuz-6.10.11\n"
               "initrd /initramfs-6.10.11.img\noptions root=UUID=bbbb ro rootflags=subvol=root "
               "console=ttyS0\n");
    write_text(
        boot_tree / "loader/entries/a-6.5.6.conf",
        "title Fedora (6.5.6)\nversion 6.5.6\nlinux /vmlinuz-6.5.6\noptions root=UUID=bbbb\n");
    make_ext4(disk, 2048 * 512, 8, boot_tree, "c0ffee00-1d2e-4f50-8a9b-0c1d2e3f4a5b");
    const fs::path root_tree = dir.path() / "root";
    write_text(root_tree / "etc/hostname", "fedora\n");
    fs::create_directories(root_tree / "boot");
    make_ext4(disk, 18432 * 512, 16, root_tree);
    const auto files = boot::read_image_boot_files({disk});
    CHECK(text(files.kernel) == "kernel 6.10");
    CHECK(text(files.initrd) == "initramfs 6.10");
    CHECK(files.cmdline == "root=UUID=bbbb ro rootflags=subvol=root");
    CHECK_THAT(files.source, Catch::Contains("partition 1") && Catch::Contains("/loader/entries"));
}

TEST_CASE("partitioned disks without a bootable Linux root are bad input, by name",
          "[boot][partitions]") {
    const TempDir dir("berth-disk-boot-test.");
    SECTION("no ext4 partition at all") {
        const fs::path disk =
            make_disk(dir, "none.img", 8,
                      std::string("label: gpt\nstart=2048, size=4096, type=") + efi_type +
                          "\nstart=6144, type=" + linux_fs_type + "\n");
        check_rejected({disk},
                       {"its GPT partition table has no Linux root file system", "1 EFI system",
                        "2 type 0fc63daf", "not ext2/3/4", "--kernel and --disk"});
    }
    SECTION("an ext4 root without a kernel") {
        const fs::path disk = make_disk(
            dir, "nokernel.img", 24,
            std::string("label: gpt\nstart=6144, size=32768, type=") + linux_fs_type + "\n");
        const fs::path tree = dir.path() / "root";
        write_text(tree / "etc/hostname", "x\n");
        make_ext4(disk, 6144 * 512, 16, tree);
        check_rejected({disk}, {"hold no kernel", "1 ext4", "linux-image-amd64"});
    }
    SECTION("a grub.cfg whose default entry names a kernel that is not there") {
        const fs::path disk = make_gpt_root_disk(
            dir, "menuentry 'Gone' {\n linux /boot/vmlinuz-9.9 root=/dev/vda2\n}\n");
        check_rejected({disk}, {"partition 2", "/boot/grub/grub.cfg entry 'Gone'",
                                "kernel '/boot/vmlinuz-9.9'", "not a file in the partition"});
    }
    SECTION("a grub.cfg entry without root=, in the root's /boot: the partition is root") {
        const fs::path disk =
            make_gpt_root_disk(dir,
                               "menuentry 'Plain' {\n linux /boot/vmlinuz-6.1.0-18-amd64 "
                               "quiet\n initrd /boot/initrd.img-6.1.0-18-amd64\n}\n");
        CHECK(boot::read_image_boot_files({disk}).cmdline == "root=/dev/vda2 quiet");
    }
}
