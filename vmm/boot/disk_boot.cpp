#include "vmm/boot/disk_boot.hpp"

#include <fmt/format.h>

#include "devices/block/partition_table.hpp"
#include "vmm/boot/boot_entry.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"

namespace berth::boot {

namespace {

using devices::block::Partition;
using devices::block::PartitionRole;
using devices::block::PartitionTable;

constexpr const char* bls_directories[] = {"/loader/entries", "/boot/loader/entries"};
constexpr const char* grub_configs[] = {"/boot/grub/grub.cfg", "/boot/grub2/grub.cfg",
                                        "/grub/grub.cfg", "/grub2/grub.cfg"};

struct LinuxPartition {
    const Partition* partition;
    Ext4Image fs;
};

// A boot loader entry found in a partition, and where it came from.
struct FoundEntry {
    BootEntry entry;
    std::string config;  // e.g. "/boot/grub/grub.cfg"
};

std::string text_of(const std::vector<std::uint8_t>& bytes) {
    return std::string(bytes.begin(), bytes.end());
}

std::optional<FoundEntry> find_boot_entry(const Ext4Image& fs) {
    for (const char* directory : bls_directories) {
        std::vector<std::pair<std::string, std::string>> entries;
        for (const auto& file : fs.list_directory(directory)) {
            if (!file.ends_with(".conf")) {
                continue;
            }
            const auto found = fs.find(std::string(directory) + "/" + file);
            if (found && found->regular_file) {
                entries.emplace_back(file, text_of(fs.read_file(*found)));
            }
        }
        std::string loader_conf;
        const std::string loader_dir(directory, std::string_view(directory).rfind('/'));
        if (const auto conf = fs.find(loader_dir + "/loader.conf"); conf && conf->regular_file) {
            loader_conf = text_of(fs.read_file(*conf));
        }
        if (auto entry = bls_default_entry(entries, loader_conf)) {
            return FoundEntry{std::move(*entry), directory};
        }
    }
    for (const char* config : grub_configs) {
        const auto found = fs.exists(config) ? fs.find(config) : std::nullopt;
        if (!found || !found->regular_file) {
            continue;
        }
        if (auto entry = grub_default_entry(text_of(fs.read_file(*found)))) {
            return FoundEntry{std::move(*entry), config};
        }
    }
    return std::nullopt;
}

bool has_root_option(const std::string& options) {
    return options.starts_with("root=") || options.find(" root=") != std::string::npos;
}

ImageBootFiles boot_from_entry(const LinuxPartition& linux_partition, const FoundEntry& found) {
    const Ext4Image& fs = linux_partition.fs;
    const unsigned number = linux_partition.partition->number;
    const std::string where = fmt::format("{} entry {}", found.config, quote(found.entry.title));
    if (found.entry.kernel.empty()) {
        throw bad_input(
            fmt::format("disk image {}: the default {} has no linux line; fix the "
                        "boot loader configuration (update-grub) or boot with "
                        "--kernel and --disk",
                        fs.name(), where));
    }
    const auto read = [&](const std::string& path, std::string_view role) {
        const auto file = fs.find(path);
        if (!file || !file->regular_file) {
            throw bad_input(
                fmt::format("disk image {}: the default {} names {} {}, which is "
                            "not a file in the partition; fix the entry "
                            "(update-grub) or install the kernel",
                            fs.name(), where, role, quote(path)));
        }
        return fs.read_file(*file);
    };
    ImageBootFiles files;
    files.kernel_path = found.entry.kernel;
    files.kernel = read(found.entry.kernel, "kernel");
    for (const auto& path : found.entry.initrds) {
        // Linux unpacks concatenated archives, each starting on a 4-byte boundary.
        files.initrd.resize((files.initrd.size() + 3) / 4 * 4);
        const auto bytes = read(path, "initrd");
        files.initrd.insert(files.initrd.end(), bytes.begin(), bytes.end());
        files.initrd_path += (files.initrd_path.empty() ? "" : " ") + path;
    }
    files.cmdline = without_console_options(found.entry.options);
    files.source = fmt::format("{}, {}", fs.name(), where);
    if (!has_root_option(files.cmdline)) {
        // A configuration in /boot of the partition: that partition is the root.
        if (!found.config.starts_with("/boot/")) {
            throw bad_input(
                fmt::format("disk image {}: the default {} has no root= option, "
                            "and its partition is a separate /boot; add "
                            "--cmdline root=... naming the root partition",
                            fs.name(), where));
        }
        files.cmdline = fmt::format("root=/dev/vda{}{}{}", number, files.cmdline.empty() ? "" : " ",
                                    files.cmdline);
    }
    return files;
}

std::string role_name(const Partition& partition) {
    switch (partition.role) {
        case PartitionRole::efi_system:
            return "EFI system";
        case PartitionRole::bios_boot:
            return "BIOS boot";
        case PartitionRole::swap:
            return "swap";
        case PartitionRole::extended:
            return "extended";
        case PartitionRole::data:
            break;
    }
    return "type " + partition.type;
}

ImageBootFiles boot_from_partitions(devices::block::BlockBackend& disk, const std::string& name,
                                    const PartitionTable& table) {
    std::vector<LinuxPartition> linux_partitions;
    std::vector<std::string> seen;
    for (const auto& partition : table.partitions) {
        if (partition.role != PartitionRole::data) {
            seen.push_back(fmt::format("{} {}", partition.number, role_name(partition)));
            continue;
        }
        const std::string partition_name = fmt::format("{} partition {}", name, partition.number);
        auto fs = Ext4Image::open_if_ext4(DiskRange{&disk, partition.offset, partition.size},
                                          partition_name);
        if (!fs) {
            seen.push_back(
                fmt::format("{} {}, not ext2/3/4", partition.number, role_name(partition)));
            continue;
        }
        seen.push_back(fmt::format("{} ext4", partition.number));
        linux_partitions.push_back(LinuxPartition{&partition, std::move(*fs)});
    }
    for (const auto& linux_partition : linux_partitions) {
        if (auto found = find_boot_entry(linux_partition.fs)) {
            return boot_from_entry(linux_partition, *found);
        }
    }
    for (const auto& linux_partition : linux_partitions) {
        if (has_default_kernel(linux_partition.fs)) {
            ImageBootFiles files = read_default_boot_files(linux_partition.fs);
            files.cmdline = fmt::format("root=/dev/vda{} rw", linux_partition.partition->number);
            files.source = linux_partition.fs.name();
            return files;
        }
    }
    const std::string partitions = seen.empty()
                                       ? std::string("no partitions")
                                       : fmt::format("partitions: {}", fmt::join(seen, "; "));
    if (!linux_partitions.empty()) {
        throw bad_input(fmt::format(
            "disk image {}: the ext4 file systems of its {} partition table hold no kernel "
            "(no boot loader entry, /vmlinuz or /boot/vmlinuz-*; {}); install a kernel in the "
            "root (linux-image-amd64 on Debian) or boot with --kernel and --disk",
            name, scheme_name(table.scheme), partitions));
    }
    throw bad_input(
        fmt::format("disk image {}: its {} partition table has no Linux root file "
                    "system (no ext2/3/4 partition; {}); give an image with an ext4 "
                    "root, or boot with --kernel and --disk",
                    name, scheme_name(table.scheme), partitions));
}

}  // namespace

ImageBootFiles read_image_boot_files(const devices::block::DiskSpec& spec) {
    const std::string name = spec.path.string();
    devices::block::DiskSpec read_only = spec;
    read_only.access = devices::block::Access::read_only;
    std::unique_ptr<devices::block::BlockBackend> disk;
    try {
        disk = devices::block::open_disk(read_only);
    } catch (const Error& e) {
        throw e.with_context("cannot open disk image " + name);
    }
    PartitionTable table;
    try {
        table = devices::block::read_partition_table(*disk);
    } catch (const Error& e) {
        throw e.with_context("disk image " + name);
    }
    if (table.scheme == devices::block::PartitionScheme::none) {
        const Ext4Image fs = Ext4Image::open(DiskRange{disk.get(), 0, disk->size()}, name);
        ImageBootFiles files = read_default_boot_files(fs);
        files.cmdline = whole_disk_root_options;
        files.source = name;
        return files;
    }
    return boot_from_partitions(*disk, name, table);
}

}  // namespace berth::boot
