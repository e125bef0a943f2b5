#include "devices/block/ephemeral_overlay.hpp"

#include <fcntl.h>

#include <cerrno>

#include "devices/block/qcow2_create.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/unique_fd.hpp"

namespace berth::devices::block {

EphemeralOverlay EphemeralOverlay::create(const DiskSpec& base) {
    DiskSpec read_only = base;
    read_only.access = Access::read_only;
    // open_disk refuses a base that looks like qcow2 without format=qcow2.
    const auto opened = open_disk(read_only);
    qcow2::NewImage image;
    image.virtual_size = (opened->size() + 511) & ~std::uint64_t{511};
    image.backing_name = std::filesystem::absolute(base.path).lexically_normal().string();
    image.backing_format = std::string(opened->format());

    TempDir directory("berth-ephemeral.");
    std::filesystem::path path = directory.path() / "overlay.qcow2";
    const UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) {
        throw_errno("cannot create the overlay " + path.string(), errno);
    }
    qcow2::write_new_image(fd.get(), image);
    return EphemeralOverlay(std::move(directory), std::move(path));
}

DiskSpec EphemeralOverlay::disk() const {
    return DiskSpec{path_, Access::read_write, DiskFormat::qcow2};
}

}  // namespace berth::devices::block
