#include "vmm/container/image_rootfs.hpp"

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/file.hpp"
#include "vmm/common/quote.hpp"

namespace berth::container {

LoopDevice LoopDevice::attach(const std::string& image) {
    constexpr const char* fix = "give a raw ext4 image (make one with mkfs.ext4 -d DIR IMG SIZE)";
    InputFile input;
    try {
        // Checked without blocking: a FIFO given as the image is an error, not a hang.
        input = open_input_file(image, InputUse::read, InputKinds::regular_file, {fix});
    } catch (const Error& e) {
        throw e.with_context(fmt::format("--image {}", quote(image)));
    }
    const UniqueFd& backing = input.fd;
    // The ext2/3/4 superblock sits at 1024 and carries 0xEF53 at offset 56.
    std::uint16_t magic = 0;
    if (::pread(backing.get(), &magic, sizeof magic, 1024 + 56) != sizeof magic ||
        magic != 0xEF53) {
        throw bad_input(fmt::format(
            "--image {} is not a raw ext4 image (make one with mkfs.ext4 -d DIR IMG SIZE)",
            quote(image)));
    }
    UniqueFd control(::open("/dev/loop-control", O_RDWR | O_CLOEXEC));
    if (!control) {
        throw_errno("cannot open /dev/loop-control for --image", errno);
    }
    // Another process may take the free device first: then ask again.
    for (int attempt = 0; attempt < 16; ++attempt) {
        const int number = ::ioctl(control.get(), LOOP_CTL_GET_FREE);
        if (number < 0) {
            throw_errno("cannot get a free loop device", errno);
        }
        LoopDevice device;
        device.path_ = fmt::format("/dev/loop{}", number);
        device.fd_.reset(::open(device.path_.c_str(), O_RDONLY | O_CLOEXEC));
        if (!device.fd_) {
            throw_errno(fmt::format("cannot open {}", device.path_), errno);
        }
        loop_config config{};
        config.fd = static_cast<__u32>(backing.get());
        config.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
        if (::ioctl(device.fd_.get(), LOOP_CONFIGURE, &config) == 0) {
            return device;
        }
        if (errno != EBUSY) {
            throw_errno(fmt::format("cannot attach {} to {}", image, device.path_), errno);
        }
    }
    throw Error("cannot attach --image: every free loop device was taken by others first");
}

namespace {

void mount_or_throw(const char* source, const char* target, const char* type, unsigned long flags,
                    const char* data, const char* what) {
    if (::mount(source, target, type, flags, data) != 0) {
        throw_errno(fmt::format("cannot mount {}", what), errno);
    }
}

void make_directory(const char* dir, mode_t mode) {
    if (::mkdir(dir, mode) != 0) {
        throw_errno(fmt::format("cannot create {}", dir), errno);
    }
}

// Nothing mounted here may propagate to the host; the tmpfs hides the staging too.
void mount_staging() {
    mount_or_throw(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr, "/ as private");
    mount_or_throw("berth-image", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=700",
                   "a staging tmpfs on /tmp");
}

// The writable layer over `lowerdir` (overlayfs's option: the top layer first).
std::string mount_writable_overlay(const std::string& lowerdir, const char* what) {
    // The upper and work directories must share one filesystem.
    make_directory("/tmp/layer", 0700);
    mount_or_throw("berth-layer", "/tmp/layer", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755",
                   "the overlay's tmpfs");
    for (const char* dir : {"/tmp/layer/upper", "/tmp/layer/work", "/tmp/layer/root"}) {
        make_directory(dir, 0755);
    }
    const std::string options =
        fmt::format("lowerdir={},upperdir=/tmp/layer/upper,workdir=/tmp/layer/work", lowerdir);
    mount_or_throw("overlay", "/tmp/layer/root", "overlay", 0, options.c_str(), what);
    return "/tmp/layer/root";
}

}  // namespace

std::string mount_image_rootfs(const std::string& loop_device) {
    mount_staging();
    make_directory("/tmp/image", 0700);
    if (::mount(loop_device.c_str(), "/tmp/image", "ext4", MS_RDONLY | MS_NODEV, nullptr) != 0) {
        const int err = errno;
        if (err == EINVAL) {
            throw bad_input(
                "--image holds no ext4 filesystem (make one with mkfs.ext4 -d DIR IMG SIZE)");
        }
        throw_errno("cannot mount the --image filesystem", err);
    }
    return mount_writable_overlay("/tmp/image", "the overlay on --image");
}

std::string mount_layers_rootfs(const std::vector<std::string>& layers) {
    // The layers by descriptor: their paths may hold ':' or ',' (which the option string
    // cannot), or lie under the /tmp the staging tmpfs is about to hide. Opened here,
    // in the container's mount namespace: overlayfs takes lower layers only from the
    // namespace that mounts it.
    std::vector<UniqueFd> opened;
    std::string lowerdir;
    for (auto layer = layers.rbegin(); layer != layers.rend(); ++layer) {
        opened.emplace_back(::open(layer->c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!opened.back()) {
            throw_errno(fmt::format("cannot open the layer {}", quote(*layer)), errno);
        }
        lowerdir +=
            fmt::format("{}/proc/self/fd/{}", lowerdir.empty() ? "" : ":", opened.back().get());
    }
    mount_staging();
    return mount_writable_overlay(lowerdir, "the overlay of the image's layers");
}

}  // namespace berth::container
