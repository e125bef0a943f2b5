#include "devices/block/disk_spec.hpp"

#include <unistd.h>

#include <array>
#include <cstring>

#include <fmt/format.h>

#include "devices/block/qcow2_disk.hpp"
#include "devices/block/qcow2_format.hpp"
#include "devices/block/raw_disk.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"

namespace berth::devices::block {

namespace {

constexpr std::string_view usage = "use PATH[,format=raw|qcow2][,ro]";

// Whether `option` was one; throws for a format= that names no format berth reads.
bool apply_option(const std::string& option, DiskSpec& spec) {
    if (option == "ro") {
        spec.access = Access::read_only;
    } else if (option == "rw") {
        spec.access = Access::read_write;
    } else if (option.starts_with("format=")) {
        const std::string format = option.substr(7);
        if (format == "raw") {
            spec.format = DiskFormat::raw;
        } else if (format == "qcow2") {
            spec.format = DiskFormat::qcow2;
        } else {
            throw bad_input(
                fmt::format("unknown disk format {}; berth reads format=raw and "
                            "format=qcow2 (convert others with qemu-img convert)",
                            quote(format)));
        }
    } else {
        return false;
    }
    return true;
}

}  // namespace

DiskSpec DiskSpec::parse(const std::string& text) {
    // The command line puts the option's name in front of these.
    DiskSpec spec;
    std::string path = text;
    bool first = true;
    for (auto comma = path.rfind(','); comma != std::string::npos; comma = path.rfind(',')) {
        const std::string option = path.substr(comma + 1);
        if (!apply_option(option, spec)) {
            if (first) {
                throw bad_input(fmt::format("unknown disk option {}; {}", quote(option), usage));
            }
            break;
        }
        first = false;
        path.resize(comma);
    }
    if (path.empty()) {
        throw bad_input(fmt::format("no path before the comma; {}", usage));
    }
    spec.path = path;
    return spec;
}

bool starts_like_qcow2(int fd) {
    std::array<std::uint8_t, 4> magic{};
    return ::pread(fd, magic.data(), magic.size(), 0) == 4 &&
           std::memcmp(magic.data(), qcow2::magic.data(), magic.size()) == 0;
}

std::unique_ptr<BlockBackend> open_disk(const DiskSpec& spec) {
    if (spec.format == DiskFormat::qcow2) {
        return Qcow2Disk::open(spec.path, spec.access);
    }
    DiskImage image = DiskImage::open(spec.path, spec.access);
    if (spec.format == DiskFormat::unspecified) {
        // Probed only to refuse: see disk_spec.hpp.
        if (starts_like_qcow2(image.fd.get())) {
            throw bad_input(
                "starts with a qcow2 header, and berth never takes a disk's format from its "
                "content; add ,format=qcow2 if it is a qcow2 image you trust, or ,format=raw "
                "to hand the guest the file's bytes as they are");
        }
    }
    return std::make_unique<RawDisk>(std::move(image));
}

}  // namespace berth::devices::block
