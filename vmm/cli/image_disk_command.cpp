// `berth image create`, `berth image convert` and `berth image info`: qcow2 images for
// --disk, made, converted and looked at without qemu-img. The disk code itself is
// devices/block; this file is the command line around it.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "devices/block/disk_copy.hpp"
#include "devices/block/disk_spec.hpp"
#include "devices/block/partition_table.hpp"
#include "devices/block/qcow2_create.hpp"
#include "devices/block/qcow2_disk.hpp"
#include "vmm/cli/command.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/file.hpp"
#include "vmm/common/progress.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/size.hpp"
#include "vmm/common/unique_fd.hpp"

namespace berth::cli {

namespace {

namespace fs = std::filesystem;
using devices::block::Access;
using devices::block::DiskFormat;

DiskFormat format_named(const std::string& name) {
    return name == "qcow2" ? DiskFormat::qcow2
           : name.empty()  ? DiskFormat::unspecified
                           : DiskFormat::raw;
}

// A read-only descriptor of `path`, for a look at its first bytes.
UniqueFd fd_of(const std::string& path) {
    return UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
}

// An image the user names as an input (a backing file, a conversion's source), opened
// read-only as `format_name` says: its format is the user's word, not its content's;
// raw when unsaid, and then refused when it starts like qcow2. `format_flag` names the
// flag that says the format.
std::unique_ptr<devices::block::BlockBackend> open_named_image(const std::string& path,
                                                               const std::string& format_name,
                                                               const std::string& format_flag) {
    const DiskFormat format = format_named(format_name);
    auto image = devices::block::open_disk(
        {path, Access::read_only, format == DiskFormat::unspecified ? DiskFormat::raw : format});
    if (format == DiskFormat::unspecified && image->format() == "raw" &&
        devices::block::starts_like_qcow2(fd_of(path).get())) {
        throw bad_input(
            fmt::format("starts with a qcow2 header, and berth never takes a format from a "
                        "file's content; add {} qcow2 if it is a qcow2 image you trust, or {} raw",
                        format_flag, format_flag));
    }
    return image;
}

struct CreateFlags {
    std::string output;
    std::string size;
    std::string backing;
    std::string backing_format;
};

int create_image(const CreateFlags& flags) {
    devices::block::qcow2::NewImage image;
    if (flags.backing.empty() && flags.size.empty()) {
        throw bad_input("image create needs --size, or --backing to take the size from");
    }
    // Open for the whole command: the output may then not be the base (OutputFile
    // refuses an input of this run).
    std::unique_ptr<devices::block::BlockBackend> base;
    if (!flags.backing.empty()) {
        // The base is checked as a disk would be: its format is the user's word, not
        // its content's.
        try {
            base = open_named_image(flags.backing, flags.backing_format, "--backing-format");
        } catch (const Error& e) {
            throw e.with_context(fmt::format("--backing {}", quote(flags.backing)));
        }
        image.virtual_size = base->size();
        image.backing_format = std::string(base->format());
        // Recorded relative to the new image's folder, where readers look for it.
        const fs::path absolute = fs::absolute(flags.backing);
        const fs::path folder = fs::absolute(flags.output).parent_path();
        image.backing_name = fs::path(flags.backing).is_absolute()
                                 ? flags.backing
                                 : absolute.lexically_relative(folder).string();
    }
    if (!flags.size.empty()) {
        image.virtual_size = parse_size(flags.size, "--size");
    }
    image.virtual_size = (image.virtual_size + 511) & ~std::uint64_t{511};
    if (image.virtual_size == 0 ||
        image.virtual_size > devices::block::qcow2::max_new_image_size()) {
        throw bad_input(fmt::format("--size {} is out of range: give 512 bytes to {}",
                                    quote(flags.size),
                                    format_size(devices::block::qcow2::max_new_image_size())));
    }
    OutputFile output = OutputFile::create(flags.output, "image");
    try {
        devices::block::qcow2::write_new_image(output.fd(), image);
    } catch (const Error& e) {
        throw e.with_context(fmt::format("image {}", quote(flags.output)));
    }
    output.commit();
    fmt::print("berth: wrote {} (qcow2, {}{})\n", flags.output, format_size(image.virtual_size),
               image.backing_name.empty()
                   ? std::string()
                   : fmt::format(", over {} ({})", image.backing_name, image.backing_format));
    return 0;
}

struct ConvertFlags {
    std::string input;
    std::string output;
    std::string input_format;
    std::string output_format = "raw";
};

// Copies what the guest would see in the input into a new raw (sparse) or qcow2 file,
// as `qemu-img convert -f FMT -O FMT` does, with progress on a terminal.
int convert_image(const ConvertFlags& flags) {
    std::unique_ptr<devices::block::BlockBackend> input;
    try {
        input = open_named_image(flags.input, flags.input_format, "-f");
    } catch (const Error& e) {
        throw e.with_context(fmt::format("image {}", quote(flags.input)));
    }
    const std::uint64_t size = input->size();
    const bool qcow2 = flags.output_format == "qcow2";
    if (qcow2 && (size % 512 != 0 || size > devices::block::qcow2::max_new_image_size())) {
        throw bad_input(fmt::format(
            "image {} is {} bytes; a qcow2 image holds a multiple of 512 bytes up to {}: "
            "convert it with -O raw",
            quote(flags.input), size, format_size(devices::block::qcow2::max_new_image_size())));
    }
    OutputFile output = OutputFile::create(flags.output, "image");
    try {
        if (qcow2) {
            devices::block::qcow2::write_new_image(output.fd(), {size, {}, {}});
        } else if (::ftruncate(output.fd(), static_cast<off_t>(size)) != 0) {
            throw_errno("cannot set its size", errno);
        }
        // The new file is reached through its descriptor: it has its final name only
        // once complete (OutputFile::commit).
        auto target = devices::block::open_disk({fmt::format("/proc/self/fd/{}", output.fd()),
                                                 Access::read_write,
                                                 qcow2 ? DiskFormat::qcow2 : DiskFormat::raw});
        ProgressReporter progress("converting " + flags.input, size);
        devices::block::copy_disk(*input, *target,
                                  [&progress](std::uint64_t done) { progress.update(done); });
        progress.finish();
    } catch (const Error& e) {
        throw e.with_context(fmt::format("cannot convert into image {}", quote(flags.output)));
    }
    output.commit();
    fmt::print("berth: wrote {} ({}, {}, from {} {})\n", flags.output, flags.output_format,
               format_size(size), input->format(), flags.input);
    return 0;
}

// The partition table as the guest will see it (through qcow2 clusters and backing
// files); a damaged one is reported, not fatal: info is how one finds out.
void print_partitions(devices::block::BlockBackend& disk) {
    devices::block::PartitionTable table;
    try {
        table = devices::block::read_partition_table(disk);
    } catch (const Error& e) {
        fmt::print("partitions: damaged table: {}\n", e.what());
        return;
    }
    if (table.scheme == devices::block::PartitionScheme::none) {
        fmt::print("partitions: none (no partition table)\n");
        return;
    }
    fmt::print("partitions: {} (disk id {}{})\n", devices::block::scheme_name(table.scheme),
               table.disk_id, table.used_backup_gpt ? ", read from the backup GPT" : "");
    for (const auto& partition : table.partitions) {
        fmt::print("  {}: offset {} bytes, {}, type {}, PARTUUID={}{}\n", partition.number,
                   partition.offset, format_size(partition.size), partition.type, partition.uuid,
                   partition.name.empty() ? std::string() : ", name " + quote(partition.name));
    }
}

int image_info(const std::string& path) {
    // Reading a header to report it attaches nothing, so here the content decides.
    std::unique_ptr<devices::block::BlockBackend> disk;
    try {
        disk = devices::block::open_disk({path, Access::read_only, DiskFormat::qcow2});
    } catch (const Error& e) {
        try {
            disk = devices::block::open_disk({path, Access::read_only, DiskFormat::raw});
        } catch (const Error&) {
            throw e.with_context(fmt::format("image {}", quote(path)));
        }
        if (std::string_view(e.what()).find("no qcow2 magic") == std::string_view::npos) {
            throw e.with_context(fmt::format("image {}", quote(path)));
        }
    }
    struct stat info {};
    ::stat(path.c_str(), &info);
    fmt::print("file: {}\n", path);
    fmt::print("virtual size: {} ({} bytes)\n", format_size(disk->size()), disk->size());
    fmt::print("disk usage: {}\n", format_size(static_cast<std::uint64_t>(info.st_blocks) * 512));
    auto* qcow2 = dynamic_cast<devices::block::Qcow2Disk*>(disk.get());
    if (qcow2 == nullptr) {
        fmt::print("format: raw\n");
        print_partitions(*disk);
        return 0;
    }
    fmt::print("format: qcow2 (version {}, {} clusters)\n", qcow2->header().version,
               format_size(qcow2->header().cluster_bytes()));
    if (const auto allocated = qcow2->allocated_bytes()) {
        fmt::print("allocated: {} in this image\n", format_size(*allocated));
    }
    fmt::print("backing chain:\n");
    const devices::block::BlockBackend* link = disk.get();
    while (link != nullptr) {
        fmt::print("  {} ({}, {})\n", link->path().string(), link->format(),
                   format_size(link->size()));
        const auto* image = dynamic_cast<const devices::block::Qcow2Disk*>(link);
        link = image != nullptr ? image->backing() : nullptr;
    }
    print_partitions(*disk);
    return 0;
}

}  // namespace

void add_image_disk_commands(CLI::App& image, Action& action) {
    auto flags = std::make_shared<CreateFlags>();
    auto* create = image.add_subcommand(
        "create", "Make an empty qcow2 disk image (for vm run --disk PATH,format=qcow2)");
    create->add_option("output", flags->output, "The new image, e.g. disk.qcow2")
        ->required()
        ->check(non_empty);
    create->add_option("--size", flags->size, "Virtual size, e.g. 8G (default: the backing file's)")
        ->check(non_empty);
    create
        ->add_option("--backing", flags->backing,
                     "Base image the new one reads from until written (a copy-on-write overlay); "
                     "recorded relative to the new image's folder")
        ->check(non_empty);
    create
        ->add_option("--backing-format", flags->backing_format,
                     "The base's format: raw (default) or qcow2; a base that starts with a "
                     "qcow2 header needs qcow2 said")
        ->check(CLI::IsMember({"raw", "qcow2"}));
    create->callback([flags, &action] { action = [flags] { return create_image(*flags); }; });

    auto convert_flags = std::make_shared<ConvertFlags>();
    auto* convert = image.add_subcommand(
        "convert",
        "Copy a disk image into a new raw or qcow2 file (as qemu-img convert; progress on a "
        "terminal)");
    convert->add_option("input", convert_flags->input, "The image to read")
        ->required()
        ->check(non_empty);
    convert->add_option("output", convert_flags->output, "The new image")
        ->required()
        ->check(non_empty);
    convert
        ->add_option("-f,--format", convert_flags->input_format,
                     "The input's format: raw (default) or qcow2; an input that starts with a "
                     "qcow2 header needs qcow2 said")
        ->check(CLI::IsMember({"raw", "qcow2"}));
    convert
        ->add_option("-O,--output-format", convert_flags->output_format,
                     "The new image's format: raw (default, sparse) or qcow2")
        ->check(CLI::IsMember({"raw", "qcow2"}));
    convert->callback([convert_flags, &action] {
        action = [convert_flags] { return convert_image(*convert_flags); };
    });

    auto path = std::make_shared<std::string>();
    auto* info = image.add_subcommand(
        "info",
        "Show a disk image's format, virtual size, allocation, backing chain and partitions");
    info->add_option("file", *path, "The image")->required()->check(non_empty);
    info->callback([path, &action] { action = [path] { return image_info(*path); }; });
}

}  // namespace berth::cli
