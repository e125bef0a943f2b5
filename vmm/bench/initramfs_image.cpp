#include "vmm/bench/initramfs_image.hpp"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/file.hpp"

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
            throw bad_input(fmt::format("--image '{}': corrupt cpio header", name));
        }
        value = value << 4 | static_cast<std::uint32_t>(digit);
    }
    return value;
}

std::size_t align4(std::size_t value) {
    return (value + 3) & ~std::size_t{3};
}

// All of `path`, gunzipped when it is gzip'd (zlib reads plain files unchanged).
std::vector<std::uint8_t> read_maybe_gzipped(const std::filesystem::path& path) {
    // read_input_file names a missing or unreadable file as bad input.
    std::vector<std::uint8_t> raw = read_input_file(path, "--image");
    if (raw.size() < 2 || raw[0] != 0x1f || raw[1] != 0x8b) {
        return raw;
    }
    z_stream stream{};
    if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) {
        throw Error("cannot start zlib");
    }
    std::vector<std::uint8_t> out(raw.size() * 4);
    stream.next_in = raw.data();
    stream.avail_in = static_cast<uInt>(raw.size());
    int result = Z_OK;
    while (result != Z_STREAM_END) {
        if (stream.total_out == out.size()) {
            out.resize(out.size() * 2);
        }
        stream.next_out = out.data() + stream.total_out;
        stream.avail_out = static_cast<uInt>(out.size() - stream.total_out);
        result = inflate(&stream, Z_NO_FLUSH);
        if (result != Z_OK && result != Z_STREAM_END) {
            inflateEnd(&stream);
            throw bad_input(fmt::format("--image '{}': corrupt gzip data", path.string()));
        }
        if (result == Z_OK && stream.avail_in == 0 && stream.avail_out != 0) {
            inflateEnd(&stream);
            throw bad_input(fmt::format("--image '{}': truncated gzip data", path.string()));
        }
    }
    out.resize(stream.total_out);
    inflateEnd(&stream);
    return out;
}

bool looks_like_ext4(const std::vector<std::uint8_t>& bytes) {
    return bytes.size() > 1082 && bytes[1080] == 0x53 && bytes[1081] == 0xef;
}

}  // namespace

InitramfsImage InitramfsImage::read(const std::filesystem::path& path) {
    std::vector<std::uint8_t> bytes = read_maybe_gzipped(path);
    if (looks_like_ext4(bytes)) {
        throw bad_input(fmt::format(
            "--image '{}' is an ext4 disk image, which cannot serve both modes: berth's VM boots "
            "from an initramfs; give one (images/build-initramfs.sh) or --kernel, --initrd and "
            "--rootfs",
            path.string()));
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
                "--image '{}' is not an initramfs (a newc cpio archive, gzip'd or not), so it "
                "cannot serve both modes; make one with images/build-initramfs.sh",
                name));
        }
        const std::uint8_t* header = &b[at];
        CpioEntry entry;
        entry.mode = hex_field(header, 1, name);
        const std::size_t file_size = hex_field(header, 6, name);
        const std::size_t name_size = hex_field(header, 11, name);
        const std::size_t name_at = at + header_size;
        if (name_size == 0 || name_at + name_size > b.size()) {
            throw bad_input(fmt::format("--image '{}': truncated cpio archive", name));
        }
        entry.path.assign(reinterpret_cast<const char*>(&b[name_at]), name_size - 1);
        entry.data_offset = align4(name_at + name_size);
        entry.data_size = file_size;
        if (entry.data_offset + file_size > b.size()) {
            throw bad_input(fmt::format("--image '{}': truncated cpio archive", name));
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
            "--image '{}' cannot serve as the VM: its /init does not run berth_run= commands; "
            "build it with images/build-initramfs.sh",
            name_));
    }
    const CpioEntry* shell = find("bin/sh");
    if (shell == nullptr) {
        throw bad_input(fmt::format("--image '{}' has no /bin/sh to run the workload with", name_));
    }
}

void InitramfsImage::unpack(const std::filesystem::path& dir) const {
    for (const auto& entry : entries_) {
        // Archive paths are relative; refuse any that would climb out of `dir`.
        const std::filesystem::path relative(entry.path);
        if (relative.is_absolute() || std::any_of(relative.begin(), relative.end(),
                                                  [](const auto& part) { return part == ".."; })) {
            throw bad_input(
                fmt::format("--image '{}': unsafe path '{}' in the archive", name_, entry.path));
        }
        const std::string target = (dir / relative).string();
        const auto permissions = static_cast<mode_t>(entry.mode & 07777);
        std::error_code error;
        std::filesystem::create_directories((dir / relative).parent_path(), error);
        if (S_ISDIR(entry.mode)) {
            if (::mkdir(target.c_str(), permissions) != 0 && errno != EEXIST) {
                throw_errno(fmt::format("cannot create {}", target), errno);
            }
            ::chmod(target.c_str(), permissions);
        } else if (S_ISLNK(entry.mode)) {
            const auto bytes = data(entry);
            const std::string link(bytes.begin(), bytes.end());
            if (::symlink(link.c_str(), target.c_str()) != 0) {
                throw_errno(fmt::format("cannot create {}", target), errno);
            }
        } else if (S_ISREG(entry.mode)) {
            std::ofstream out(target, std::ios::binary | std::ios::trunc);
            const auto bytes = data(entry);
            out.write(reinterpret_cast<const char*>(bytes.data()),
                      static_cast<std::streamsize>(bytes.size()));
            out.close();
            if (!out || ::chmod(target.c_str(), permissions) != 0) {
                throw Error(fmt::format("cannot write {}", target));
            }
        }
    }
}

TempDir::TempDir(const std::string& prefix) {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw_errno(fmt::format("cannot create a directory like {}", pattern), errno);
    }
    path_ = pattern;
}

TempDir::~TempDir() {
    if (!path_.empty()) {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
}

}  // namespace berth::bench
