#pragma once
// Reading files out of an ext2/3/4 file system on a disk, for `berth vm run --image`:
// the whole disk (what `berth image build debian` makes) or one partition of it, raw or
// qcow2. berth reads it in user space with libext2fs (through disk_range_io.hpp), so
// booting an image needs neither a loop mount nor root.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vmm/boot/disk_range_io.hpp"

struct struct_ext2_filsys;

namespace berth::boot {

// A read-only ext2/3/4 file system in a range of a disk. Paths are absolute inside it.
// `name` says where it is in messages: "x.img" or "x.img partition 2".
class Ext4Image {
public:
    // A range without an ext2/3/4 superblock, too short for one or corrupt is a
    // bad-input Error.
    static Ext4Image open(const DiskRange& range, const std::string& name);
    // nullopt when the range holds no ext2/3/4 superblock (another file system); a
    // corrupt ext4 is still an Error.
    static std::optional<Ext4Image> open_if_ext4(const DiskRange& range, const std::string& name);

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

    // Whether `path` exists; a dangling or looping symlink counts as missing (a /vmlinuz
    // pointing into a separate /boot partition dangles here).
    bool exists(const std::string& path) const;

    const std::string& name() const { return name_; }

private:
    struct Closer {
        void operator()(struct_ext2_filsys* fs) const;
    };
    Ext4Image(std::string name, struct_ext2_filsys* fs);
    std::string read_link(std::uint32_t inode, const std::string& path) const;
    [[noreturn]] void fail(const std::string& what, long error) const;

    std::string name_;
    std::unique_ptr<struct_ext2_filsys, Closer> fs_;
};

// The newest kernel among the names in /boot ("vmlinuz-VERSION"), by version order
// (6.1.0-10 < 6.1.0-9 is wrong; strverscmp gets it right). nullopt when there is none.
std::optional<std::string> newest_kernel_name(const std::vector<std::string>& names);

struct ImageBootFiles {
    std::string kernel_path;  // inside the image, e.g. /boot/vmlinuz-6.1.0-18-amd64
    std::vector<std::uint8_t> kernel;
    std::string initrd_path;  // empty: no initrd (a boot entry without one)
    std::vector<std::uint8_t> initrd;
    // What the image's boot says to the kernel, console= removed (berth's own goes in
    // front): "root=/dev/vda rw" for a whole-disk file system, a boot entry's options
    // for a partitioned disk.
    std::string cmdline;
    std::string source;  // where the boot came from, for messages: "grub.cfg entry 'Debian'"
};

// Whether the file system holds a kernel where read_default_boot_files looks (a /vmlinuz
// that leads to a file, or a /boot/vmlinuz-*).
bool has_default_kernel(const Ext4Image& image);

// Finds the image's kernel: /vmlinuz when present (Debian keeps it pointing at the
// default kernel), otherwise the newest /boot/vmlinuz-*; and its initrd: /initrd.img
// next to /vmlinuz, otherwise /boot/initrd.img-VERSION. A kernel without an initrd is
// bad input: Debian builds virtio_blk and ext4 as modules, so its kernel cannot mount
// the root disk without one. Leaves cmdline empty.
ImageBootFiles read_default_boot_files(const Ext4Image& image);

}  // namespace berth::boot
