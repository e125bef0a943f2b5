#include "devices/block/qcow2_format.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"

namespace berth::devices::block::qcow2 {

namespace {

constexpr std::uint32_t extension_end = 0;
constexpr std::uint32_t extension_backing_format = 0xe2792aca;
constexpr std::uint32_t extension_feature_names = 0x6803f857;
constexpr std::uint32_t extension_external_data = 0x44415441;
constexpr std::uint32_t extension_encryption = 0x0537be77;
constexpr std::size_t feature_name_entry = 48;

// The fix for a header that is malformed rather than unsupported.
constexpr std::string_view damaged = "the image is damaged; check it with qemu-img check";

std::string hex(std::uint64_t value) {
    return fmt::format("{:#x}", value);
}

// [offset, offset + bytes) lies inside a file of `file_bytes`, without overflow.
bool inside(std::uint64_t offset, std::uint64_t bytes, std::uint64_t file_bytes) {
    return offset <= file_bytes && bytes <= file_bytes - offset;
}

void check_table(std::string_view what, std::uint64_t offset, std::uint64_t bytes,
                 const Header& header, std::uint64_t file_bytes) {
    if ((offset & (header.cluster_bytes() - 1)) != 0) {
        throw bad_input(fmt::format("{} at offset {}: not aligned to the {}-byte cluster; {}", what,
                                    hex(offset), header.cluster_bytes(), damaged));
    }
    if (offset == 0) {
        throw bad_input(fmt::format("{} at offset 0: overlaps the header; {}", what, damaged));
    }
    if (!inside(offset, bytes, file_bytes)) {
        throw bad_input(fmt::format("{} at offset {} ({} bytes): outside the file ({} bytes); {}",
                                    what, hex(offset), bytes, file_bytes, damaged));
    }
}

std::string known_incompatible_name(unsigned bit) {
    switch (bit) {
        case 0:
            return "dirty";
        case 1:
            return "corrupt";
        case 2:
            return "external data file";
        case 3:
            return "compression type";
        case 4:
            return "extended L2 entries";
        default:
            return fmt::format("bit {}", bit);
    }
}

void parse_extensions(std::span<const std::uint8_t> first, Header& header) {
    std::uint64_t at = header.header_bytes;
    while (true) {
        if (first.size() < 8 || at > first.size() - 8) {
            // qemu ends the list with an end marker; running into the end of the
            // cluster is malformed.
            throw bad_input(
                fmt::format("header extension at offset {}: runs past the first "
                            "cluster; {}",
                            hex(at), damaged));
        }
        const std::uint32_t type = load_be32(first.data() + at);
        const std::uint32_t length = load_be32(first.data() + at + 4);
        if (type == extension_end) {
            return;
        }
        const std::uint64_t data = at + 8;
        if (length > first.size() - data) {
            throw bad_input(
                fmt::format("header extension {} at offset {}: its {} bytes run past "
                            "the first cluster; {}",
                            hex(type), hex(at), length, damaged));
        }
        const auto bytes = first.subspan(data, length);
        if (type == extension_backing_format) {
            header.backing_format = std::string(bytes.begin(), bytes.end());
        } else if (type == extension_feature_names) {
            for (std::size_t i = 0; i + feature_name_entry <= bytes.size();
                 i += feature_name_entry) {
                const auto* entry = bytes.data() + i;
                const auto* name = reinterpret_cast<const char*>(entry + 2);
                header.feature_names.push_back(
                    {entry[0], entry[1], std::string(name, strnlen(name, feature_name_entry - 2))});
            }
        } else if (type == extension_encryption) {
            throw bad_input(
                "is encrypted (full disk encryption header); berth reads no "
                "encrypted images: decrypt it with qemu-img convert");
        } else if (type == extension_external_data) {
            throw bad_input(
                "keeps its data in an external file (header extension); berth "
                "reads self-contained images: qemu-img convert -O qcow2 makes one");
        }
        // Others (bitmaps, and those a newer qemu adds) do not change how data is read.
        at = data + ((std::uint64_t{length} + 7) & ~std::uint64_t{7});
    }
}

}  // namespace

std::uint64_t load_be64(const std::uint8_t* bytes) {
    std::uint64_t value = 0;
    for (int i = 0; i < 8; ++i) {
        value = (value << 8) | bytes[i];
    }
    return value;
}

std::uint32_t load_be32(const std::uint8_t* bytes) {
    return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) |
           (std::uint32_t{bytes[2]} << 8) | bytes[3];
}

void store_be64(std::uint8_t* bytes, std::uint64_t value) {
    for (int i = 7; i >= 0; --i) {
        bytes[i] = static_cast<std::uint8_t>(value);
        value >>= 8;
    }
}

void store_be32(std::uint8_t* bytes, std::uint32_t value) {
    for (int i = 3; i >= 0; --i) {
        bytes[i] = static_cast<std::uint8_t>(value);
        value >>= 8;
    }
}

std::string Header::incompatible_name(unsigned bit) const {
    for (const auto& feature : feature_names) {
        if (feature.type == 0 && feature.bit == bit && !feature.name.empty()) {
            return quote(feature.name);
        }
    }
    return known_incompatible_name(bit);
}

Header parse_header(std::span<const std::uint8_t> first, std::uint64_t file_bytes, Access access) {
    if (first.size() < 8 || std::memcmp(first.data(), magic.data(), magic.size()) != 0) {
        throw bad_input(
            "header: no qcow2 magic (QFI\\xfb) at offset 0; it is not a qcow2 image "
            "(attach it with format=raw if it is a raw one)");
    }
    Header header;
    header.version = load_be32(first.data() + 4);
    if (header.version != 2 && header.version != 3) {
        throw bad_input(
            fmt::format("header: version {}; berth reads qcow2 versions 2 and 3 "
                        "(qemu-img amend -o compat=1.1 converts)",
                        header.version));
    }
    const std::uint32_t needed = header.version == 2 ? v2_header_bytes : v3_header_bytes;
    if (first.size() < needed) {
        throw bad_input(
            fmt::format("header: truncated: the file is {} bytes, a version {} header "
                        "is {}; {}",
                        first.size(), header.version, needed, damaged));
    }
    const std::uint8_t* h = first.data();
    header.backing_name_offset = load_be64(h + 8);
    header.backing_name_bytes = load_be32(h + 16);
    header.cluster_bits = load_be32(h + 20);
    header.virtual_size = load_be64(h + 24);
    const std::uint32_t crypt = load_be32(h + 32);
    header.l1_entries = load_be32(h + 36);
    header.l1_offset = load_be64(h + 40);
    header.refcount_table_offset = load_be64(h + 48);
    header.refcount_table_clusters = load_be32(h + 56);
    header.snapshots = load_be32(h + 60);
    if (header.version == 3) {
        header.incompatible = load_be64(h + 72);
        header.autoclear = load_be64(h + 88);
        header.refcount_order = load_be32(h + 96);
        header.header_bytes = load_be32(h + 100);
    }
    if (header.cluster_bits < min_cluster_bits || header.cluster_bits > max_cluster_bits) {
        throw bad_input(fmt::format("header: cluster_bits {} is out of range ({}-{}); {}",
                                    header.cluster_bits, min_cluster_bits, max_cluster_bits,
                                    damaged));
    }
    const std::uint64_t cluster = header.cluster_bytes();
    if (header.header_bytes < needed || header.header_bytes % 8 != 0 ||
        header.header_bytes > std::min<std::uint64_t>(cluster, first.size())) {
        throw bad_input(
            fmt::format("header: header_length {} is not a multiple of 8 between {} "
                        "and the cluster size; {}",
                        header.header_bytes, needed, damaged));
    }
    if (first.size() < std::min(cluster, file_bytes)) {
        throw bad_input("header: the first cluster was not read whole");  // a caller's bug
    }
    first = first.first(std::min<std::uint64_t>(cluster, first.size()));
    if (crypt != 0) {
        throw bad_input(
            fmt::format("header: encrypted (method {}); berth reads no encrypted "
                        "images: decrypt it with qemu-img convert",
                        crypt));
    }
    if (header.refcount_order > 6) {
        throw bad_input(fmt::format("header: refcount_order {} is out of range (0-6); {}",
                                    header.refcount_order, damaged));
    }
    parse_extensions(first, header);

    // Incompatible features: what berth cannot read is refused by name.
    std::uint64_t unsupported = header.incompatible & ~incompatible_compression_type;
    if (access == Access::read_only) {
        // A reader may ignore stale refcounts; only a writer needs them right.
        unsupported &= ~(incompatible_dirty | incompatible_corrupt);
    }
    for (unsigned bit = 0; bit < 64; ++bit) {
        if ((unsupported >> bit & 1) == 0) {
            continue;
        }
        const std::uint64_t mask = 1ULL << bit;
        if (mask == incompatible_dirty) {
            throw bad_input(
                "header: has the incompatible feature \"dirty\" set (its refcounts "
                "may be stale); repair it with qemu-img check -r all, or attach it "
                "read-only");
        }
        if (mask == incompatible_corrupt) {
            throw bad_input(
                "header: has the incompatible feature \"corrupt\" set; repair it "
                "with qemu-img check -r all, or attach it read-only");
        }
        throw bad_input(
            fmt::format("header: uses the incompatible feature {}, which berth does "
                        "not support; qemu-img convert -O qcow2 makes an image "
                        "without it",
                        header.incompatible_name(bit)));
    }
    if ((header.incompatible & incompatible_compression_type) != 0) {
        if (header.header_bytes <= 104) {
            throw bad_input(
                fmt::format("header: the compression type feature is set but the "
                            "header ({} bytes) has no compression type field; {}",
                            header.header_bytes, damaged));
        }
        const std::uint8_t type = h[104];
        if (type > 1) {
            throw bad_input(
                fmt::format("header: compression type {} is unknown; berth reads "
                            "deflate (0) and zstd (1)",
                            type));
        }
        header.compression = static_cast<Compression>(type);
    }
    if (access == Access::read_write && header.snapshots != 0) {
        throw bad_input(
            fmt::format("header: has {} internal snapshots, and berth writes only "
                        "images without them; attach it read-only, or delete them "
                        "(qemu-img snapshot -d)",
                        header.snapshots));
    }

    // The tables, each inside the file.
    const std::uint64_t l2_span = cluster << header.l2_bits();  // guest bytes per L1 entry
    if (header.virtual_size > (1ULL << 62)) {
        throw bad_input(
            fmt::format("header: virtual size {} is too large; {}", header.virtual_size, damaged));
    }
    const std::uint64_t l1_needed = (header.virtual_size + l2_span - 1) / l2_span;
    if (std::uint64_t{header.l1_entries} * 8 > max_l1_bytes) {
        throw bad_input(fmt::format("header: L1 table of {} entries is larger than {} MiB; {}",
                                    header.l1_entries, max_l1_bytes >> 20, damaged));
    }
    if (header.l1_entries < l1_needed) {
        throw bad_input(
            fmt::format("header: L1 table of {} entries is too small for the virtual "
                        "size {} ({} needed); {}",
                        header.l1_entries, header.virtual_size, l1_needed, damaged));
    }
    if (header.l1_entries > 0) {
        check_table("L1 table", header.l1_offset, std::uint64_t{header.l1_entries} * 8, header,
                    file_bytes);
    }
    const std::uint64_t refcount_bytes = std::uint64_t{header.refcount_table_clusters} * cluster;
    if (header.refcount_table_clusters == 0 || refcount_bytes > max_refcount_table_bytes) {
        throw bad_input(
            fmt::format("header: refcount table of {} clusters is empty or larger "
                        "than {} MiB; {}",
                        header.refcount_table_clusters, max_refcount_table_bytes >> 20, damaged));
    }
    check_table("refcount table", header.refcount_table_offset, refcount_bytes, header, file_bytes);
    if (header.backing_name_offset != 0) {
        if (header.backing_name_bytes > max_backing_name ||
            !inside(header.backing_name_offset, header.backing_name_bytes, first.size())) {
            throw bad_input(
                fmt::format("header: backing file name at offset {} ({} bytes): "
                            "outside the first cluster or longer than {}; {}",
                            hex(header.backing_name_offset), header.backing_name_bytes,
                            max_backing_name, damaged));
        }
        header.backing_name =
            std::string(first.begin() + static_cast<std::ptrdiff_t>(header.backing_name_offset),
                        first.begin() + static_cast<std::ptrdiff_t>(header.backing_name_offset +
                                                                    header.backing_name_bytes));
    }
    return header;
}

}  // namespace berth::devices::block::qcow2
