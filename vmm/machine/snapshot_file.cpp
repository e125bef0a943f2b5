#include "vmm/machine/snapshot_file.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/file.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/machine/file_fields.hpp"

namespace berth::machine {

namespace {

constexpr char magic[8] = {'B', 'E', 'R', 'T', 'H', 'S', 'N', 'P'};
constexpr std::size_t page_size = 4096;
// No state of berth's machine comes near this: a larger length is damage.
constexpr std::uint64_t max_body_bytes = 256ULL << 20;

bool all_zero(const std::uint8_t* page) {
    static const std::uint8_t zeros[page_size] = {};
    return std::memcmp(page, zeros, page_size) == 0;
}

void pwrite_all(int fd, const std::uint8_t* data, std::size_t size, std::uint64_t offset,
                const std::string& what) {
    while (size > 0) {
        const ssize_t written = ::pwrite(fd, data, size, static_cast<off_t>(offset));
        if (written < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw_errno("cannot write " + what, errno);
        }
        data += written;
        size -= static_cast<std::size_t>(written);
        offset += static_cast<std::uint64_t>(written);
    }
}

}  // namespace

std::vector<std::uint8_t> encode_snapshot_state(const nlohmann::json& state) {
    const std::vector<std::uint8_t> body = nlohmann::json::to_msgpack(state);
    std::vector<std::uint8_t> out(std::begin(magic), std::end(magic));
    put_le(out, snapshot_format_version, 4);
    put_le(out, crc32_of(body), 4);
    put_le(out, body.size(), 8);
    out.insert(out.end(), body.begin(), body.end());
    return out;
}

nlohmann::json decode_snapshot_state(std::span<const std::uint8_t> bytes) {
    const std::string fix = "take the snapshot again";
    if (bytes.size() < snapshot_header_size ||
        std::memcmp(bytes.data(), magic, sizeof magic) != 0) {
        if (bytes.size() >= sizeof magic && std::memcmp(bytes.data(), magic, sizeof magic) == 0) {
            throw bad_input(fmt::format("truncated ({} bytes, shorter than its header); {}",
                                        bytes.size(), fix));
        }
        throw bad_input(
            "not a berth snapshot state file (no BERTHSNP magic); give the "
            "directory `berth vm ctl SOCKET snapshot DIR` wrote");
    }
    const auto version = static_cast<std::uint32_t>(get_le(bytes, 8, 4));
    if (version != snapshot_format_version) {
        throw bad_input(fmt::format(
            "snapshot format version {}, and this berth reads version {}; restore it with the "
            "berth that took it, or take the snapshot again",
            version, snapshot_format_version));
    }
    const auto checksum = static_cast<std::uint32_t>(get_le(bytes, 12, 4));
    const std::uint64_t length = get_le(bytes, 16, 8);
    const std::uint64_t present = bytes.size() - snapshot_header_size;
    if (length > max_body_bytes || length != present) {
        throw bad_input(fmt::format("{} ({} bytes of state where the header says {}); {}",
                                    present < length ? "truncated" : "damaged", present, length,
                                    fix));
    }
    const auto body = bytes.subspan(snapshot_header_size);
    if (crc32_of(body) != checksum) {
        throw bad_input(
            fmt::format("damaged: its checksum does not match (CRC-32 {:08x}, expected {:08x}); {}",
                        crc32_of(body), checksum, fix));
    }
    auto state = nlohmann::json::from_msgpack(body.begin(), body.end(), true, false);
    if (state.is_discarded() || !state.is_object()) {
        throw bad_input("damaged: its body is not a MessagePack map; " + fix);
    }
    return state;
}

void prepare_snapshot_dir(const std::filesystem::path& dir) {
    const std::string name = "snapshot directory " + quote(dir.string());
    if (::mkdir(dir.c_str(), 0755) == 0) {
        return;
    }
    const int err = errno;
    if (err != EEXIST) {
        throw bad_input(fmt::format("{}; give a new directory in a writable place",
                                    errno_message(name + ": cannot create it", err)));
    }
    std::error_code error;
    if (!std::filesystem::is_directory(dir, error)) {
        throw bad_input(name + ": exists and is not a directory; give a new directory");
    }
    if (!std::filesystem::is_empty(dir, error) || error) {
        throw bad_input(name + ": is not empty; give a new or empty directory");
    }
    if (::access(dir.c_str(), W_OK) != 0) {
        throw bad_input(fmt::format("{}; give a directory you can write",
                                    errno_message(name + ": not writable", errno)));
    }
}

nlohmann::json write_snapshot_memory(const std::filesystem::path& dir,
                                     const memory::GuestRam& memory) {
    const auto path = dir / snapshot_memory_file;
    OutputFile file = OutputFile::create(path, "snapshot memory file");
    const std::string what = "snapshot memory file " + quote(path.string());
    nlohmann::json regions = nlohmann::json::array();
    std::uint64_t offset = 0;
    for (const auto& region : memory.regions()) {
        regions.push_back(
            {{"guest_address", region.guest_address}, {"size", region.size()}, {"offset", offset}});
        const std::uint8_t* data = region.mapping.data();
        // Runs of pages that are not all zero, each written with one pwrite.
        std::uint64_t page = 0;
        const std::uint64_t pages = region.size() / page_size;
        while (page < pages) {
            if (all_zero(data + page * page_size)) {
                ++page;
                continue;
            }
            std::uint64_t end = page + 1;
            while (end < pages && !all_zero(data + end * page_size)) {
                ++end;
            }
            pwrite_all(file.fd(), data + page * page_size, (end - page) * page_size,
                       offset + page * page_size, what);
            page = end;
        }
        offset += region.size();
    }
    // The length covers the zero pages at the end, as holes.
    if (::ftruncate(file.fd(), static_cast<off_t>(offset)) != 0) {
        throw_errno("cannot size " + what, errno);
    }
    file.commit();
    return regions;
}

void write_snapshot_state(const std::filesystem::path& dir, const nlohmann::json& state) {
    OutputFile file = OutputFile::create(dir / snapshot_state_file, "snapshot state file");
    const auto bytes = encode_snapshot_state(state);
    file.write(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    file.commit();
}

nlohmann::json read_snapshot_state(const std::filesystem::path& dir) {
    const auto path = dir / snapshot_state_file;
    const std::string name = "snapshot state file " + path.string();
    try {
        const InputFile file =
            open_input_file(path, InputUse::read, InputKinds::regular_file,
                            {"give a directory `berth vm ctl SOCKET snapshot DIR` wrote"});
        if (file.size > max_body_bytes + snapshot_header_size) {
            throw bad_input("damaged: larger than any berth state; take the snapshot again");
        }
        return decode_snapshot_state(read_all(file));
    } catch (const Error& e) {
        throw e.with_context(name);
    }
}

}  // namespace berth::machine
