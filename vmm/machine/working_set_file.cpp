#include "vmm/machine/working_set_file.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/file.hpp"
#include "vmm/machine/file_fields.hpp"

namespace berth::machine {

namespace {

constexpr char magic[8] = {'B', 'E', 'R', 'T', 'H', 'W', 'K', 'S'};
constexpr std::uint32_t format_version = 1;
constexpr std::size_t header_size = 24;
constexpr std::size_t run_size = 16;
// Far beyond any guest berth runs (one run per page of 1 TiB): a larger count is damage.
constexpr std::uint64_t max_runs = 1ULL << 28;
constexpr const char* fix = "delete it (the next restore records it again)";

bool inside_ram(std::uint64_t address, std::uint64_t length, std::span<const RamSpan> ram) {
    for (const auto& span : ram) {
        if (address >= span.guest_address && address - span.guest_address <= span.size &&
            length <= span.size - (address - span.guest_address)) {
            return true;
        }
    }
    return false;
}

}  // namespace

std::vector<std::uint8_t> encode_working_set(std::span<const WorkingSetRun> runs) {
    std::vector<std::uint8_t> body;
    body.reserve(runs.size() * run_size);
    for (const auto& run : runs) {
        put_le(body, run.guest_address, 8);
        put_le(body, run.pages, 4);
        put_le(body, run.use == memory::PageUse::written ? 1 : 0, 4);
    }
    std::vector<std::uint8_t> out(std::begin(magic), std::end(magic));
    put_le(out, format_version, 4);
    put_le(out, crc32_of(body), 4);
    put_le(out, runs.size(), 8);
    out.insert(out.end(), body.begin(), body.end());
    return out;
}

std::vector<WorkingSetRun> decode_working_set(std::span<const std::uint8_t> bytes,
                                              std::span<const RamSpan> ram) {
    if (bytes.size() < sizeof magic || std::memcmp(bytes.data(), magic, sizeof magic) != 0) {
        throw bad_input(fmt::format("not a berth working-set file (no BERTHWKS magic); {}", fix));
    }
    if (bytes.size() < header_size) {
        throw bad_input(
            fmt::format("truncated ({} bytes, shorter than its header); {}", bytes.size(), fix));
    }
    const auto version = static_cast<std::uint32_t>(get_le(bytes, 8, 4));
    if (version != format_version) {
        throw bad_input(fmt::format("format version {}, and this berth reads version {}; {}",
                                    version, format_version, fix));
    }
    const auto checksum = static_cast<std::uint32_t>(get_le(bytes, 12, 4));
    const std::uint64_t count = get_le(bytes, 16, 8);
    const std::uint64_t present = (bytes.size() - header_size) / run_size;
    if (count > max_runs || (bytes.size() - header_size) % run_size != 0 || count != present) {
        throw bad_input(fmt::format("{} ({} bytes of runs where the header says {} runs); {}",
                                    present < count ? "truncated" : "damaged",
                                    bytes.size() - header_size, count, fix));
    }
    const auto body = bytes.subspan(header_size);
    if (crc32_of(body) != checksum) {
        throw bad_input(fmt::format("damaged: its checksum does not match; {}", fix));
    }
    std::vector<WorkingSetRun> runs;
    runs.reserve(count);
    std::uint64_t previous_end = 0;
    for (std::uint64_t i = 0; i < count; ++i) {
        const std::size_t at = i * run_size;
        const std::uint64_t address = get_le(body, at, 8);
        const std::uint64_t pages = get_le(body, at + 8, 4);
        const std::uint64_t use = get_le(body, at + 12, 4);
        const std::uint64_t length = pages * memory::resident_page_size;
        if (address % memory::resident_page_size != 0 || pages == 0 || use > 1 ||
            address < previous_end || !inside_ram(address, length, ram)) {
            throw bad_input(fmt::format(
                "damaged: run {} ({} pages at guest address {:#x}) is not a piece of the "
                "snapshot's RAM in order; {}",
                i, pages, address, fix));
        }
        previous_end = address + length;
        runs.push_back(
            {address, pages, use == 1 ? memory::PageUse::written : memory::PageUse::read});
    }
    return runs;
}

std::optional<std::vector<WorkingSetRun>> read_working_set(const std::filesystem::path& dir,
                                                           std::span<const RamSpan> ram) {
    const auto path = dir / snapshot_working_set_file;
    struct stat status {};
    if (::lstat(path.c_str(), &status) != 0 && errno == ENOENT) {
        return std::nullopt;
    }
    const std::string name = "snapshot working-set file " + path.string();
    try {
        const InputFile file = open_input_file(path, InputUse::read, InputKinds::regular_file,
                                               {"delete it (the next restore records it again)"});
        if (file.size > header_size + max_runs * run_size) {
            throw bad_input(fmt::format("damaged: larger than any working set; {}", fix));
        }
        return decode_working_set(read_all(file), ram);
    } catch (const Error& e) {
        throw e.with_context(name);
    }
}

}  // namespace berth::machine
