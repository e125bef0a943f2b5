#include "vmm/bench/initramfs_image.hpp"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "vmm/bench/tree_writer.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/file.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/size.hpp"

namespace berth::bench {

namespace {

constexpr std::size_t header_size = 110;  // "070701" and 13 fields of 8 hex digits

std::uint32_t hex_field(const std::uint8_t* header, int index, const std::string& name) {
    std::uint32_t value = 0;
    for (int i = 0; i < 8; ++i) {
        const char c = static_cast<char>(header[6 + index * 8 + i]);
        int digit;
        if (c >= '0' && c <= '9') {
            digit = c - '0';
        } else if (c >= 'a' && c <= 'f') {
            digit = c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            digit = c - 'A' + 10;
        } else {
            throw bad_input(fmt::format("--image {}: corrupt cpio header", quote(name)));
        }
        value = value << 4 | static_cast<std::uint32_t>(digit);
    }
    return value;
}

std::size_t align4(std::size_t value) {
    return (value + 3) & ~std::size_t{3};
}

// All of `path`, gunzipped when it is gzip'd, refused once it passes `limit` bytes: a
// small gzip'd file can unpack to any size (a "bomb"), so the output is capped as it
// grows, never allocated first and checked after.
std::vector<std::uint8_t> read_maybe_gzipped(const std::filesystem::path& path, std::size_t limit) {
    const auto too_big = [&] {
        return bad_input(fmt::format(
            "--image {} holds more than {}, more than the bench's VM has as RAM; give a "
            "smaller initramfs",
            quote(path.string()), format_size(limit)));
    };
    // read_input_file names a missing or unreadable file as bad input.
    std::vector<std::uint8_t> raw = read_input_file(path, "--image");
    if (raw.size() < 2 || raw[0] != 0x1f || raw[1] != 0x8b) {
        if (raw.size() > limit) {
            throw too_big();
        }
        return raw;
    }
    z_stream stream{};
    if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) {
        throw Error("cannot start zlib");
    }
    // inflateEnd on every way out.
    const std::unique_ptr<z_stream, int (*)(z_stream*)> end_stream(&stream, inflateEnd);
    std::vector<std::uint8_t> out(std::min(raw.size() * 4, limit + 1));
    stream.next_in = raw.data();
    stream.avail_in = static_cast<uInt>(raw.size());
    int result = Z_OK;
    while (result != Z_STREAM_END) {
        if (stream.total_out == out.size()) {
            if (out.size() > limit) {
                throw too_big();
            }
            out.resize(std::min(out.size() * 2, limit + 1));
        }
        stream.next_out = out.data() + stream.total_out;
        stream.avail_out = static_cast<uInt>(out.size() - stream.total_out);
        result = inflate(&stream, Z_NO_FLUSH);
        if (result != Z_OK && result != Z_STREAM_END) {
            throw bad_input(fmt::format("--image {}: corrupt gzip data", quote(path.string())));
        }
        if (result == Z_OK && stream.avail_in == 0 && stream.avail_out != 0) {
            throw bad_input(fmt::format("--image {}: truncated gzip data", quote(path.string())));
        }
    }
    if (stream.total_out > limit) {
        throw too_big();
    }
    out.resize(stream.total_out);
    return out;
}

bool looks_like_ext4(const std::vector<std::uint8_t>& bytes) {
    return bytes.size() > 1082 && bytes[1080] == 0x53 && bytes[1081] == 0xef;
}

}  // namespace

InitramfsImage InitramfsImage::read(const std::filesystem::path& path, std::size_t limit) {
    std::vector<std::uint8_t> bytes = read_maybe_gzipped(path, limit);
    if (looks_like_ext4(bytes)) {
        throw bad_input(fmt::format(
            "--image {} is an ext4 disk image, which cannot serve both modes: berth's VM boots "
            "from an initramfs; give one (images/build-initramfs.sh) or --kernel, --initrd and "
            "--rootfs",
            quote(path.string())));
    }
    return parse(std::move(bytes), path.string());
}

InitramfsImage InitramfsImage::parse(std::vector<std::uint8_t> bytes, const std::string& name) {
    InitramfsImage image;
    image.name_ = name;
    image.bytes_ = std::move(bytes);
    const auto& b = image.bytes_;
    std::size_t at = 0;
    for (;;) {
        if (at + header_size > b.size() ||
            (std::memcmp(&b[at], "070701", 6) != 0 && std::memcmp(&b[at], "070702", 6) != 0)) {
            throw bad_input(fmt::format(
                "--image {} is not an initramfs (a newc cpio archive, gzip'd or not), so it "
                "cannot serve both modes; make one with images/build-initramfs.sh",
                quote(name)));
        }
        const std::uint8_t* header = &b[at];
        CpioEntry entry;
        entry.mode = hex_field(header, 1, name);
        const std::size_t file_size = hex_field(header, 6, name);
        const std::size_t name_size = hex_field(header, 11, name);
        const std::size_t name_at = at + header_size;
        if (name_size == 0 || name_at + name_size > b.size()) {
            throw bad_input(fmt::format("--image {}: truncated cpio archive", quote(name)));
        }
        entry.path.assign(reinterpret_cast<const char*>(&b[name_at]), name_size - 1);
        entry.data_offset = align4(name_at + name_size);
        entry.data_size = file_size;
        if (entry.data_offset + file_size > b.size()) {
            throw bad_input(fmt::format("--image {}: truncated cpio archive", quote(name)));
        }
        at = align4(entry.data_offset + file_size);
        if (entry.path == "TRAILER!!!") {
            break;
        }
        if (entry.path.starts_with("./")) {
            entry.path.erase(0, 2);
        }
        if (entry.path.empty() || entry.path == ".") {
            continue;
        }
        image.entries_.push_back(std::move(entry));
    }
    return image;
}

const CpioEntry* InitramfsImage::find(std::string_view path) const {
    for (const auto& entry : entries_) {
        if (entry.path == path) {
            return &entry;
        }
    }
    return nullptr;
}

std::span<const std::uint8_t> InitramfsImage::data(const CpioEntry& entry) const {
    return std::span(bytes_).subspan(entry.data_offset, entry.data_size);
}

void InitramfsImage::check_serves_both_modes() const {
    const CpioEntry* init = find("init");
    const auto has = [this](const CpioEntry* entry, std::string_view text) {
        const auto bytes = data(*entry);
        return std::search(bytes.begin(), bytes.end(), text.begin(), text.end()) != bytes.end();
    };
    if (init == nullptr || !S_ISREG(init->mode) || !has(init, "berth_run")) {
        throw bad_input(fmt::format(
            "--image {} cannot serve as the VM: its /init does not run berth_run= commands; "
            "build it with images/build-initramfs.sh",
            quote(name_)));
    }
    const CpioEntry* shell = find("bin/sh");
    if (shell == nullptr) {
        throw bad_input(
            fmt::format("--image {} has no /bin/sh to run the workload with", quote(name_)));
    }
}

void InitramfsImage::unpack(const std::filesystem::path& dir) const {
    // Every entry goes through the TreeWriter: nothing lands outside `dir`.
    TreeWriter tree(dir);
    for (const auto& entry : entries_) {
        try {
            if (S_ISDIR(entry.mode)) {
                tree.make_directory(entry.path, entry.mode);
            } else if (S_ISLNK(entry.mode)) {
                const auto bytes = data(entry);
                tree.make_symlink(entry.path, std::string(bytes.begin(), bytes.end()));
            } else if (S_ISREG(entry.mode)) {
                tree.write_file(entry.path, data(entry), entry.mode);
            }
            // Device nodes, fifos and sockets are skipped: the container runtime makes
            // its own /dev, and a node from an archive could reach the host's devices.
        } catch (const Error& e) {
            throw e.with_context(fmt::format("--image {}", quote(name_)));
        }
    }
}

}  // namespace berth::bench
