#pragma once
// Reads out of a file mapping into a request's guest buffers: the one copy that raw
// disks and qcow2 data clusters share (devices/virtio/file_mapping.hpp says why a
// mapping and not preadv).

#include <sys/uio.h>

#include <cstdint>
#include <span>

#include "devices/virtio/file_mapping.hpp"

namespace berth::devices::block {

// Copies the mapped file's bytes from `offset` on into `to`; the caller has checked
// that they lie inside the mapping. false when the file shrank under the mapping (the
// request fails, as preadv at end of file would).
bool read_from_mapping(const virtio::FileMapping& mapping, std::span<const iovec> to,
                       std::uint64_t offset);

}  // namespace berth::devices::block
