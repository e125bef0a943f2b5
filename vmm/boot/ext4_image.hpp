#pragma once
// Reading the kernel and initrd out of a disk image, for `berth vm run --image`. The
// image is a raw ext2/3/4 file system without a partition table (what `berth image
// build debian` makes); berth reads it in user space with libext2fs, so booting an
// image needs neither a loop mount nor root.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct struct_ext2_filsys;

namespace berth::boot {

// A read-only ext2/3/4 file system in an image file. Paths are absolute inside it.
class Ext4Image {
public:
    // Opens `image`; a missing, empty or non-ext4 image is a bad-input Error.
    static Ext4Image open(const std::filesystem::path& image);

    // What a path names once symlinks are followed.
    struct Entry {
        std::string path;  // the path after following symlinks, for messages
        std::uint32_t inode = 0;
        bool regular_file = false;
        bool directory = false;
    };
    // Follows symlinks in every component (at most 16). nullopt when `path` does not
    // exist; a symlink whose target is missing or a loop is a bad-input Error.
    std::optional<Entry> find(const std::string& path) const;
    // The names in directory `path` (without "." and ".."); empty when it is missing.
    std::vector<std::string> list_directory(const std::string& path) const;
    // All of regular file `entry`.
    std::vector<std::uint8_t> read_file(const Entry& entry) const;

    const std::filesystem::path& image() const { return image_; }

private:
    struct Closer {
        void operator()(struct_ext2_filsys* fs) const;
    };
    Ext4Image(std::filesystem::path image, struct_ext2_filsys* fs);
    std::string read_link(std::uint32_t inode, const std::string& path) const;
    [[noreturn]] void fail(const std::string& what, long error) const;

    std::filesystem::path image_;
    std::unique_ptr<struct_ext2_filsys, Closer> fs_;
};

// The newest kernel among the names in /boot ("vmlinuz-VERSION"), by version order
// (6.1.0-10 < 6.1.0-9 is wrong; strverscmp gets it right). nullopt when there is none.
std::optional<std::string> newest_kernel_name(const std::vector<std::string>& names);

struct ImageBootFiles {
    std::string kernel_path;  // inside the image, e.g. /boot/vmlinuz-6.1.0-18-amd64
    std::vector<std::uint8_t> kernel;
    std::string initrd_path;
    std::vector<std::uint8_t> initrd;
};

// Finds the image's kernel: /vmlinuz when present (Debian keeps it pointing at the
// default kernel), otherwise the newest /boot/vmlinuz-*; and its initrd: /initrd.img
// next to /vmlinuz, otherwise /boot/initrd.img-VERSION. A kernel without an initrd is
// bad input: Debian builds virtio_blk and ext4 as modules, so its kernel cannot mount
// the root disk without one.
ImageBootFiles read_image_boot_files(const std::filesystem::path& image);

}  // namespace berth::boot
