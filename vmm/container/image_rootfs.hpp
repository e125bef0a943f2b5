#pragma once
// `--image IMG`: the raw ext4 image a VM boots, as a container's root. berth attaches it
// to a loop device read-only with autoclear (the device frees itself when its last
// user, the mount, goes away with the container's mount namespace); init mounts it
// read-only and lays a writable overlay on a tmpfs above it, so the image never changes.

#include <string>
#include <vector>

#include "vmm/common/unique_fd.hpp"

namespace berth::container {

class LoopDevice {
public:
    // Attaches `image` read-only. A missing or unreadable image is bad input.
    static LoopDevice attach(const std::string& image);

    const std::string& path() const { return path_; }
    // Drops berth's reference; with autoclear the device then lives only as long as
    // the mount made from it.
    void release() { fd_.reset(); }

private:
    UniqueFd fd_;
    std::string path_;
};

// In the container's mount namespace, before setup_rootfs: mounts the loop device
// read-only, a tmpfs for the writable layer and an overlay of both, all under a
// private tmpfs on /tmp (invisible to the host). Returns the overlay's directory.
std::string mount_image_rootfs(const std::string& loop_device);

// The same for an OCI image's unpacked layers (directories, the base first): an overlay
// of them all with the writable tmpfs on top. Returns the overlay's directory.
std::string mount_layers_rootfs(const std::vector<std::string>& layers);

}  // namespace berth::container
