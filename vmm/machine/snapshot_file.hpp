#pragma once
// The files of a VM snapshot (docs/snapshots.md). A snapshot is a directory holding
//   state   what the machine is and every piece of its state but RAM, in this format:
//           "BERTHSNP" (8 bytes), format version (u32), CRC-32 of the body (u32, zlib's),
//           body length (u64), then the body: one MessagePack document (nlohmann's
//           to_msgpack), whose binary strings carry KVM's structures as KVM lays them
//           out. All header integers little endian. (Not CBOR: nlohmann's CBOR reader
//           decodes half floats with ldexp, which would make berth load libm.)
//   memory  guest RAM, the regions one after the other at the offsets the state names;
//           pages that are all zero are holes (a sparse file).
// The state is written last, so a directory with a state file holds a whole snapshot.

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vmm/memory/guest_memory.hpp"

namespace berth::machine {

inline constexpr const char* snapshot_state_file = "state";
inline constexpr const char* snapshot_memory_file = "memory";
inline constexpr std::uint32_t snapshot_format_version = 1;
inline constexpr std::size_t snapshot_header_size = 24;

// The state file's bytes for `state`.
std::vector<std::uint8_t> encode_snapshot_state(const nlohmann::json& state);
// Checks the magic, version, length and checksum and decodes the body. Throws a
// bad-input Error saying what is wrong and what to do (without naming the file: the
// caller does).
nlohmann::json decode_snapshot_state(std::span<const std::uint8_t> bytes);

// Makes `dir` ready to take a snapshot: creates it (its parent must exist), or accepts
// it when it is an empty directory. Bad input (not empty, not writable) throws.
void prepare_snapshot_dir(const std::filesystem::path& dir);

// Writes `memory` to dir/memory, zero pages as holes; returns the regions as the state
// records them: [{"guest_address", "size", "offset"}].
nlohmann::json write_snapshot_memory(const std::filesystem::path& dir,
                                     const memory::GuestRam& memory);
// Writes dir/state (through a temporary file renamed once complete).
void write_snapshot_state(const std::filesystem::path& dir, const nlohmann::json& state);

// Reads and checks dir/state; errors name the file and the fix.
nlohmann::json read_snapshot_state(const std::filesystem::path& dir);

}  // namespace berth::machine
