#pragma once
// Writes the files of an archive under one folder and nowhere else, whatever the
// archive says: the one way berth unpacks (bench/initramfs_image uses it).
//
// Every path is relative to the folder; "..", absolute paths and NULs are refused, and
// each folder on the way is opened with O_NOFOLLOW, one name at a time, so a symlink the
// archive made earlier (or found there) is never followed: "escape -> /etc" and then
// "escape/passwd" is refused instead of writing /etc/passwd. The last name is created
// where it is, never through a link: a file or link replaces a file or link of the same
// name (as the kernel's initramfs unpacker does), a folder must be a folder. Only what
// a root filesystem for the bench needs is written: folders, regular files, symlinks,
// with the permission bits but without set-user-ID or set-group-ID.
//
// Errors are bad input naming the entry (quoted): the archive is the user's.

#include <sys/types.h>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "vmm/common/unique_fd.hpp"

namespace berth::bench {

class TreeWriter {
public:
    // `root` must exist; it is opened once, so a rename of it later changes nothing.
    explicit TreeWriter(const std::filesystem::path& root);

    void make_directory(std::string_view path, mode_t mode);
    void make_symlink(std::string_view path, std::string_view target);
    void write_file(std::string_view path, std::span<const std::uint8_t> bytes, mode_t mode);

private:
    struct Place {
        UniqueFd parent;
        std::string name;  // one path component, not "." or ".."
    };
    // The folder that will hold `path` (made when missing), and the last name.
    Place place_of(std::string_view path) const;
    // Removes a file or link named `name` in `parent`, so that a new one can be made.
    void replace(const Place& place, std::string_view path) const;

    UniqueFd root_;
};

}  // namespace berth::bench
