#pragma once
// `berth vm run --ephemeral`: the guest's writes go to a temporary qcow2 overlay whose
// backing file is the image the user named, so the image stays as it was (QEMU's
// -snapshot). The overlay lives in a new directory under $TMPDIR (default /tmp) and is
// removed with it when the run ends; only a berth killed with SIGKILL leaves it behind
// (berth-ephemeral.XXXXXX).
//
// The overlay records the base's absolute path and the format the user gave (raw when
// none: a base that starts like qcow2 is refused unless format=qcow2 says so, as for
// --disk), so the backing chain berth follows is the one the user named.

#include <filesystem>

#include "devices/block/disk_spec.hpp"
#include "vmm/common/temp_dir.hpp"

namespace berth::devices::block {

class EphemeralOverlay {
public:
    // Opens `base` read-only to check it and learn its size, then writes the overlay.
    // Bad input (the base missing, unreadable, corrupt) → Error naming the structure.
    static EphemeralOverlay create(const DiskSpec& base);

    // The overlay, to attach read-write as format=qcow2.
    DiskSpec disk() const;
    const std::filesystem::path& path() const { return path_; }

private:
    EphemeralOverlay(TempDir directory, std::filesystem::path path)
        : directory_(std::move(directory)), path_(std::move(path)) {}

    TempDir directory_;
    std::filesystem::path path_;
};

}  // namespace berth::devices::block
