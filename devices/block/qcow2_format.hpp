#pragma once
// The qcow2 header (qemu docs/interop/qcow2.rst), versions 2 and 3: its fields, the
// header extensions berth uses, and the checks that make every later offset safe to
// use: each table the header names lies inside the file, aligned, and of a size that
// cannot overflow. Parsing reads only the bytes it is given (the file's first cluster,
// or less); it never follows an offset.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "devices/block/backend.hpp"

namespace berth::devices::block::qcow2 {

inline constexpr std::array<std::uint8_t, 4> magic = {'Q', 'F', 'I', 0xfb};
inline constexpr std::uint32_t v2_header_bytes = 72;
inline constexpr std::uint32_t v3_header_bytes = 104;
inline constexpr std::uint32_t min_cluster_bits = 9;
inline constexpr std::uint32_t max_cluster_bits = 21;
// Bounds on tables held in memory, so that a hostile header cannot make berth allocate
// gigabytes (qemu's limits are the same size).
inline constexpr std::uint64_t max_l1_bytes = 32ULL << 20;
inline constexpr std::uint64_t max_refcount_table_bytes = 8ULL << 20;
inline constexpr std::uint32_t max_backing_name = 1023;
// Host offsets in L1, L2 and refcount tables have bits 9-55.
inline constexpr std::uint64_t offset_mask = 0x00fffffffffffe00ULL;
inline constexpr std::uint64_t copied_flag = 1ULL << 63;
inline constexpr std::uint64_t compressed_flag = 1ULL << 62;
inline constexpr std::uint64_t zero_flag = 1ULL;  // version 3 L2 entries

// Incompatible feature bits.
inline constexpr std::uint64_t incompatible_dirty = 1ULL << 0;
inline constexpr std::uint64_t incompatible_corrupt = 1ULL << 1;
inline constexpr std::uint64_t incompatible_external_data = 1ULL << 2;
inline constexpr std::uint64_t incompatible_compression_type = 1ULL << 3;
inline constexpr std::uint64_t incompatible_extended_l2 = 1ULL << 4;

enum class Compression : std::uint8_t { deflate = 0, zstd = 1 };

std::uint64_t load_be64(const std::uint8_t* bytes);
std::uint32_t load_be32(const std::uint8_t* bytes);
void store_be64(std::uint8_t* bytes, std::uint64_t value);
void store_be32(std::uint8_t* bytes, std::uint32_t value);

// Header field offsets (the ones berth writes after creating an image or opening one).
inline constexpr std::uint32_t autoclear_features_at = 88;

struct Header {
    std::uint32_t version = 0;
    std::uint64_t backing_name_offset = 0;
    std::uint32_t backing_name_bytes = 0;
    std::uint32_t cluster_bits = 0;
    std::uint64_t virtual_size = 0;
    std::uint32_t l1_entries = 0;
    std::uint64_t l1_offset = 0;
    std::uint64_t refcount_table_offset = 0;
    std::uint32_t refcount_table_clusters = 0;
    std::uint32_t snapshots = 0;
    std::uint64_t incompatible = 0;
    std::uint64_t autoclear = 0;
    std::uint32_t refcount_order = 4;
    std::uint32_t header_bytes = v2_header_bytes;
    Compression compression = Compression::deflate;

    // From the header extensions.
    std::optional<std::string> backing_format;
    std::string backing_name;  // empty: no backing file
    struct FeatureName {
        std::uint8_t type;  // 0 incompatible, 1 compatible, 2 autoclear
        std::uint8_t bit;
        std::string name;
    };
    std::vector<FeatureName> feature_names;

    std::uint64_t cluster_bytes() const { return 1ULL << cluster_bits; }
    std::uint32_t l2_bits() const { return cluster_bits - 3; }  // 8-byte entries
    // The name of an incompatible feature bit: the image's own table, else the spec's.
    std::string incompatible_name(unsigned bit) const;
};

// Parses and checks the header from `first` (the file's first min(cluster, file size)
// bytes) against the file's size. A malformed or unsupported header throws a bad-input
// Error naming the field and the fix. `access` decides whether features that only
// matter to a writer (dirty, corrupt, snapshots) are refused.
Header parse_header(std::span<const std::uint8_t> first, std::uint64_t file_bytes, Access access);

// The bytes of a header that parse_header reads at most: the first cluster of the
// largest size, or the file, whichever is smaller.
inline constexpr std::uint64_t max_header_read = 1ULL << max_cluster_bits;

}  // namespace berth::devices::block::qcow2
