// --disk PATH[,format=raw|qcow2][,ro]: a virtio-blk disk on a raw image file, a block
// device or a qcow2 image (devices/block).

#include <fmt/format.h>

#include "devices/virtio/blk.hpp"
#include "devices/virtio/sigbus_guard.hpp"
#include "vmm/common/error.hpp"
#include "vmm/machine/virtio_device_spec.hpp"

namespace berth::machine {

namespace {

class BlkSpec final : public VirtioDeviceSpec {
public:
    explicit BlkSpec(devices::virtio::DiskSpec disk) : disk_(std::move(disk)) {}

    std::string_view kind() const override { return "disk"; }
    std::shared_ptr<devices::virtio::Device> open(unsigned index) const override {
        try {
            // Read-only images are read through a mapping whose SIGBUS the worker's
            // copies catch: set that handler now, in setup, not on the worker's first
            // read (its seccomp list has no sigaction).
            devices::virtio::install_sigbus_guard();
            // vda, vdb, ...: the serial is what /sys/block/vdX/serial shows.
            return std::make_shared<devices::virtio::Blk>(devices::block::open_disk(disk_),
                                                          fmt::format("berth-disk-{}", index));
        } catch (const Error& e) {
            throw e.with_context(fmt::format("disk {} ({})", index, disk_.path.string()));
        }
    }

    SnapshotRecord snapshot_record() const override {
        // Options always last, so that DiskSpec::parse takes every comma before them
        // as part of the path.
        std::string value = disk_.path.string();
        if (disk_.format == devices::block::DiskFormat::qcow2) {
            value += ",format=qcow2";
        } else if (disk_.format == devices::block::DiskFormat::raw) {
            value += ",format=raw";
        }
        value += disk_.access == devices::block::Access::read_only ? ",ro" : ",rw";
        return {value, {disk_.path}};
    }

private:
    devices::virtio::DiskSpec disk_;
};

std::shared_ptr<const VirtioDeviceSpec> parse_disk_flag(const std::string& value) {
    return virtio_disk(devices::virtio::DiskSpec::parse(value));
}

}  // namespace

std::shared_ptr<const VirtioDeviceSpec> virtio_disk(const devices::virtio::DiskSpec& disk) {
    return std::make_shared<BlkSpec>(disk);
}

VirtioDeviceFlag virtio_blk_flag() {
    return {"--disk",
            "Disk image as a virtio-blk disk (/dev/vda, vdb, ...): raw unless format=qcow2 "
            "(a raw disk that starts with a qcow2 header is refused); ,ro for read-only; "
            "repeatable",
            "PATH[,format=raw|qcow2][,ro]", parse_disk_flag};
}

}  // namespace berth::machine
