#include "vmm/boot/ext4_image.hpp"

#include <string.h>  // strverscmp

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <mutex>

#include <ext2fs/ext2fs.h>
#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"

namespace berth::boot {

namespace {

// More than this is no kernel or initrd but a corrupt inode's size.
constexpr std::uint64_t max_boot_file_size = 2ULL << 30;
constexpr int max_symlink_depth = 16;
constexpr const char* build_hint = "build one with `berth image build debian`";

std::string ext2_message(long error) {
    static std::once_flag once;
    std::call_once(once, [] { initialize_ext2_error_table(); });
    return error_message(error);
}

std::string parent_of(const std::string& path) {
    const auto slash = path.rfind('/');
    return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

std::string join(const std::string& directory, const std::string& name) {
    return directory == "/" ? "/" + name : directory + "/" + name;
}

}  // namespace

void Ext4Image::Closer::operator()(struct_ext2_filsys* fs) const {
    ext2fs_close_free(&fs);
}

Ext4Image::Ext4Image(std::string name, struct_ext2_filsys* fs) : name_(std::move(name)), fs_(fs) {}

std::optional<Ext4Image> Ext4Image::open_if_ext4(const DiskRange& range, const std::string& name) {
    ext2_filsys fs = nullptr;
    const errcode_t error = open_ext2fs_on(range, name, &fs);
    if (error == 0) {
        return Ext4Image(name, fs);
    }
    if (error == EXT2_ET_BAD_MAGIC || error == EXT2_ET_SHORT_READ) {
        return std::nullopt;
    }
    throw bad_input(
        fmt::format("disk image {} has a corrupt ext4 file system ({}); check it "
                    "with e2fsck -f or rebuild it",
                    name, ext2_message(error)));
}

Ext4Image Ext4Image::open(const DiskRange& range, const std::string& name) {
    ext2_filsys fs = nullptr;
    const errcode_t error = open_ext2fs_on(range, name, &fs);
    if (error == EXT2_ET_BAD_MAGIC) {
        throw bad_input(
            fmt::format("disk image {} is not an ext2/3/4 file system (no "
                        "superblock magic at byte 1080); {}",
                        name, build_hint));
    }
    if (error == EXT2_ET_SHORT_READ) {
        throw bad_input(
            fmt::format("disk image {} is too short ({} bytes) to hold an ext4 "
                        "file system; {}",
                        name, range.size, build_hint));
    }
    if (error != 0) {
        throw bad_input(
            fmt::format("disk image {} has a corrupt ext4 file system ({}); check it "
                        "with e2fsck -f or rebuild it",
                        name, ext2_message(error)));
    }
    return Ext4Image(name, fs);
}

void Ext4Image::fail(const std::string& what, long error) const {
    throw bad_input(
        fmt::format("disk image {}: cannot read {} ({}); check it with e2fsck -f "
                    "or rebuild it",
                    name_, what, ext2_message(error)));
}

std::string Ext4Image::read_link(std::uint32_t inode_number, const std::string& path) const {
    ext2_inode inode{};
    if (const errcode_t error = ext2fs_read_inode(fs_.get(), inode_number, &inode); error != 0) {
        fail(path, error);
    }
    // A short target lives in the inode itself ("fast" symlink); a longer one in a block.
    if (ext2fs_is_fast_symlink(&inode) != 0) {
        const auto* text = reinterpret_cast<const char*>(inode.i_block);
        return std::string(
            text, strnlen(text, std::min<std::size_t>(inode.i_size, sizeof inode.i_block)));
    }
    Entry link{path, inode_number, true, false};
    const auto bytes = read_file(link);
    return std::string(bytes.begin(), bytes.end());
}

std::optional<Ext4Image::Entry> Ext4Image::find(const std::string& path) const {
    std::string current = path;
    for (int depth = 0;; ++depth) {
        ext2_ino_t number = 0;
        // ext2fs_namei follows symlinks in the directories on the way, not in the last
        // component: we follow that one ourselves to learn the name it leads to.
        const errcode_t error =
            ext2fs_namei(fs_.get(), EXT2_ROOT_INO, EXT2_ROOT_INO, current.c_str(), &number);
        if (error == EXT2_ET_FILE_NOT_FOUND || error == EXT2_ET_NO_DIRECTORY) {
            if (depth == 0) {
                return std::nullopt;
            }
            throw bad_input(
                fmt::format("disk image {}: {} is a symlink to {}, which does not "
                            "exist in the image; fix the link or remove it",
                            name_, path, quote(current)));
        }
        if (error == EXT2_ET_SYMLINK_LOOP) {
            throw bad_input(
                fmt::format("disk image {}: {} leads into a symlink loop; fix the "
                            "links in the image",
                            name_, path));
        }
        if (error != 0) {
            fail(current, error);
        }
        ext2_inode inode{};
        if (const errcode_t read_error = ext2fs_read_inode(fs_.get(), number, &inode);
            read_error != 0) {
            fail(current, read_error);
        }
        if (!LINUX_S_ISLNK(inode.i_mode)) {
            return Entry{current, number, LINUX_S_ISREG(inode.i_mode), LINUX_S_ISDIR(inode.i_mode)};
        }
        if (depth == max_symlink_depth) {
            throw bad_input(
                fmt::format("disk image {}: {} leads through more than {} symlinks "
                            "(a loop?); fix the links in the image",
                            name_, path, max_symlink_depth));
        }
        const std::string target = read_link(number, current);
        current = !target.empty() && target[0] == '/' ? target : join(parent_of(current), target);
    }
}

std::vector<std::string> Ext4Image::list_directory(const std::string& path) const {
    const auto directory = find(path);
    if (!directory || !directory->directory) {
        return {};
    }
    std::vector<std::string> names;
    const auto collect = [](ext2_ino_t, int, ext2_dir_entry* entry, int, int, char*,
                            void* data) -> int {
        const std::string name(entry->name, ext2fs_dirent_name_len(entry));
        if (name != "." && name != "..") {
            static_cast<std::vector<std::string>*>(data)->push_back(name);
        }
        return 0;
    };
    const errcode_t error =
        ext2fs_dir_iterate2(fs_.get(), directory->inode, 0, nullptr, collect, &names);
    if (error != 0) {
        fail("directory " + directory->path, error);
    }
    std::sort(names.begin(), names.end());
    return names;
}

std::vector<std::uint8_t> Ext4Image::read_file(const Entry& entry) const {
    ext2_file_t file = nullptr;
    if (const errcode_t error = ext2fs_file_open(fs_.get(), entry.inode, 0, &file); error != 0) {
        fail(entry.path, error);
    }
    const std::unique_ptr<std::remove_pointer_t<ext2_file_t>, errcode_t (*)(ext2_file_t)> closer(
        file, ext2fs_file_close);
    __u64 size = 0;
    if (const errcode_t error = ext2fs_file_get_lsize(file, &size); error != 0) {
        fail(entry.path, error);
    }
    // Checked before the buffer is allocated: a corrupt inode's size would otherwise cost
    // that much memory (and the time to read its holes) before anything else noticed.
    const std::uint64_t fs_bytes =
        ext2fs_blocks_count(fs_->super) * static_cast<std::uint64_t>(fs_->blocksize);
    if (size > max_boot_file_size || size > fs_bytes) {
        throw bad_input(
            fmt::format("disk image {}: {} claims {} bytes, more than {}; check the image "
                        "with e2fsck -f",
                        name_, quote(entry.path), size,
                        size > fs_bytes ? fmt::format("the whole {}-byte file system", fs_bytes)
                                        : std::string("a kernel or initrd can be")));
    }
    std::vector<std::uint8_t> bytes(size);
    std::size_t done = 0;
    while (done < bytes.size()) {
        unsigned int got = 0;
        const auto want =
            static_cast<unsigned int>(std::min<std::size_t>(bytes.size() - done, 1U << 24));
        if (const errcode_t error = ext2fs_file_read(file, bytes.data() + done, want, &got);
            error != 0) {
            fail(entry.path, error);
        }
        if (got == 0) {
            throw bad_input(
                fmt::format("disk image {}: {} ends after {} of its {} bytes; check "
                            "the image with e2fsck -f",
                            name_, quote(entry.path), done, size));
        }
        done += got;
    }
    return bytes;
}

std::optional<std::string> newest_kernel_name(const std::vector<std::string>& names) {
    constexpr std::string_view prefix = "vmlinuz-";
    std::optional<std::string> newest;
    for (const auto& name : names) {
        if (name.size() <= prefix.size() || !name.starts_with(prefix)) {
            continue;
        }
        if (!newest || strverscmp(name.c_str(), newest->c_str()) > 0) {
            newest = name;
        }
    }
    return newest;
}

bool Ext4Image::exists(const std::string& path) const {
    try {
        return find(path).has_value();
    } catch (const Error&) {
        return false;
    }
}

bool has_default_kernel(const Ext4Image& image) {
    if (image.exists("/vmlinuz")) {
        return true;
    }
    return newest_kernel_name(image.list_directory("/boot")).has_value();
}

ImageBootFiles read_default_boot_files(const Ext4Image& image) {
    const std::string& name = image.name();

    auto kernel = image.find("/vmlinuz");
    const bool from_root_link = kernel.has_value();
    if (!kernel) {
        if (const auto newest = newest_kernel_name(image.list_directory("/boot"))) {
            kernel = image.find("/boot/" + *newest);
        }
    }
    if (!kernel) {
        throw bad_input(
            fmt::format("disk image {} has no kernel (no /vmlinuz, no "
                        "/boot/vmlinuz-*); install one in it (linux-image-amd64 on "
                        "Debian) or boot it from a separate kernel",
                        name));
    }
    if (!kernel->regular_file) {
        throw bad_input(
            fmt::format("disk image {}: kernel {} is not a regular file; fix "
                        "/vmlinuz or /boot in the image",
                        name, quote(kernel->path)));
    }

    // The initrd that belongs to this kernel: Debian's /initrd.img follows /vmlinuz;
    // otherwise the one with the kernel's version, in the kernel's directory.
    const std::string kernel_file = kernel->path.substr(kernel->path.rfind('/') + 1);
    const std::string version =
        kernel_file.starts_with("vmlinuz-") ? kernel_file.substr(8) : std::string();
    const std::string directory = parent_of(kernel->path);
    std::vector<std::string> candidates;
    if (from_root_link) {
        candidates.push_back("/initrd.img");
    }
    if (!version.empty()) {
        candidates.push_back(join(directory, "initrd.img-" + version));
        candidates.push_back(join(directory, "initramfs-" + version + ".img"));
    }
    std::optional<Ext4Image::Entry> initrd;
    for (const auto& candidate : candidates) {
        if ((initrd = image.find(candidate))) {
            break;
        }
    }
    if (!initrd) {
        const std::string expected =
            version.empty() ? std::string("/initrd.img") : join(directory, "initrd.img-" + version);
        throw bad_input(fmt::format(
            "disk image {} has kernel {} but no initrd ({}): Debian's kernel has virtio_blk and "
            "ext4 as modules and cannot mount its root disk without one; create it in the image "
            "(update-initramfs -c -k {})",
            name, quote(kernel->path), quote(expected),
            version.empty() ? "VERSION" : quote(version)));
    }
    if (!initrd->regular_file) {
        throw bad_input(fmt::format("disk image {}: initrd {} is not a regular file", name,
                                    quote(initrd->path)));
    }

    ImageBootFiles files;
    files.kernel = image.read_file(*kernel);
    files.kernel_path = kernel->path;
    files.initrd = image.read_file(*initrd);
    files.initrd_path = initrd->path;
    return files;
}

}  // namespace berth::boot
