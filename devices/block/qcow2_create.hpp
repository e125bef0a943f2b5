#pragma once
// A new, empty qcow2 image (version 3, 64 KiB clusters, 16-bit refcounts), optionally
// over a backing file: what `berth image create` writes.

#include <cstdint>
#include <string>

namespace berth::devices::block::qcow2 {

struct NewImage {
    std::uint64_t virtual_size = 0;  // bytes, a multiple of 512
    std::string backing_name;        // as the image will record it; empty: none
    std::string backing_format;      // "raw" or "qcow2" when there is a backing file
};

// The largest virtual size a new image can have (its L1 table stays within bounds).
std::uint64_t max_new_image_size();

// Writes the image into `fd`, an empty regular file. Throws Error on a failed write.
void write_new_image(int fd, const NewImage& image);

}  // namespace berth::devices::block::qcow2
