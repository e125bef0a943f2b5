#include "vmm/container/layer_cache.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <memory>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "vmm/common/archive_library.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/temp_dir.hpp"
#include "vmm/common/unique_fd.hpp"

namespace berth::container {

namespace {

constexpr std::string_view whiteout_prefix = ".wh.";
constexpr std::string_view opaque_marker = ".wh..wh..opq";

// The path of a tar entry inside the layer, cleaned ("./a//b/" is "a/b", the layer's
// root ""); an absolute path or a ".." component is hostile.
std::string layer_path(std::string_view name, std::string_view role) {
    if (name.starts_with('/')) {
        throw bad_input(
            fmt::format("{} {} is an absolute path: a layer may only write inside itself", role,
                        quote(std::string(name))));
    }
    std::string cleaned;
    std::size_t start = 0;
    while (start <= name.size()) {
        auto end = name.find('/', start);
        if (end == std::string_view::npos) {
            end = name.size();
        }
        const std::string_view part = name.substr(start, end - start);
        start = end + 1;
        if (part.empty() || part == ".") {
            continue;
        }
        if (part == "..") {
            throw bad_input(
                fmt::format("{} {} climbs out with \"..\": a layer may only write inside itself",
                            role, quote(std::string(name))));
        }
        if (!cleaned.empty()) {
            cleaned += '/';
        }
        cleaned += part;
    }
    return cleaned;
}

std::string parent_of(const std::string& path) {
    const auto slash = path.rfind('/');
    return slash == std::string::npos ? std::string() : path.substr(0, slash);
}
std::string base_of(const std::string& path) {
    const auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

// openat2 below `root`, following no symlink at all: the layer's own symlinks point
// into the container's root, which is not where the layer is being unpacked.
int open_beneath(int root, const std::string& path, std::uint64_t flags) {
    open_how how{};
    how.flags = flags | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    return static_cast<int>(
        ::syscall(SYS_openat2, root, path.empty() ? "." : path.c_str(), &how, sizeof how));
}

// Refuses an entry whose directory (or a hard link's target) would be reached through a
// symlink or a file; a directory not made yet is fine (libarchive makes it).
void check_reachable(int root, const std::string& path, bool is_target, std::string_view role) {
    const UniqueFd fd(open_beneath(root, path, O_PATH | (is_target ? O_NOFOLLOW : O_DIRECTORY)));
    if (fd || errno == ENOENT) {
        return;
    }
    throw bad_input(errno_message(
        fmt::format("{} {} leads through a symlink or a file: a layer may only write inside itself",
                    role, quote(path)),
        errno));
}

// The directory `path` in the layer, made (0755) where missing.
UniqueFd directory_beneath(int root, const std::string& path) {
    UniqueFd current(::dup(root));
    std::size_t start = 0;
    while (start < path.size()) {
        auto end = path.find('/', start);
        if (end == std::string::npos) {
            end = path.size();
        }
        const std::string part = path.substr(start, end - start);
        start = end + 1;
        UniqueFd next(open_beneath(current.get(), part, O_RDONLY | O_DIRECTORY));
        if (!next && errno == ENOENT && ::mkdirat(current.get(), part.c_str(), 0755) == 0) {
            next.reset(open_beneath(current.get(), part, O_RDONLY | O_DIRECTORY));
        }
        if (!next) {
            throw bad_input(errno_message(
                fmt::format("directory {} of a whiteout cannot be made in the layer", quote(path)),
                errno));
        }
        current = std::move(next);
    }
    return current;
}

// `.wh.NAME`: overlayfs's whiteout, a character device 0/0 named NAME.
void make_whiteout(int root, const std::string& path) {
    const UniqueFd directory = directory_beneath(root, parent_of(path));
    const std::string name = base_of(path).substr(whiteout_prefix.size());
    if (::mknodat(directory.get(), name.c_str(), S_IFCHR | 0, ::makedev(0, 0)) != 0) {
        throw_errno(fmt::format("cannot make the whiteout of {}", quote(path)), errno);
    }
}

// `.wh..wh..opq`: the directory hides what lower layers have in it.
void make_opaque(int root, const std::string& path) {
    const std::string directory_path = parent_of(path);
    if (directory_path.empty()) {
        return;  // the root of a layer: overlayfs has nothing to hide below a mount's root
    }
    const UniqueFd directory = directory_beneath(root, directory_path);
    if (::fsetxattr(directory.get(), "trusted.overlay.opaque", "y", 1, 0) != 0) {
        throw_errno(
            fmt::format("cannot mark {} opaque (trusted.overlay.opaque)", quote(directory_path)),
            errno);
    }
}

// xattrs in trusted.* would speak to the overlay (trusted.overlay.redirect, metacopy,
// opaque): an image says that with whiteouts only.
void drop_trusted_xattrs(const ArchiveApi& api, archive_entry* entry) {
    struct Xattr {
        std::string name;
        std::vector<char> value;
    };
    std::vector<Xattr> kept;
    bool dropped = false;
    api.entry_xattr_reset(entry);
    const char* name = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    while (api.entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK) {
        if (std::string_view(name).starts_with("trusted.")) {
            dropped = true;
            continue;
        }
        const auto* bytes = static_cast<const char*>(value);
        kept.push_back({name, std::vector<char>(bytes, bytes + size)});
    }
    if (!dropped) {
        return;
    }
    api.entry_xattr_clear(entry);
    for (const auto& xattr : kept) {
        api.entry_xattr_add_entry(entry, xattr.name.c_str(), xattr.value.data(),
                                  xattr.value.size());
    }
}

int expected_filter(oci::LayerCompression compression) {
    switch (compression) {
        case oci::LayerCompression::gzip:
            return ARCHIVE_FILTER_GZIP;
        case oci::LayerCompression::zstd:
            return ARCHIVE_FILTER_ZSTD;
        case oci::LayerCompression::none:
            break;
    }
    return ARCHIVE_FILTER_NONE;
}

void unpack(const oci::ImageLayer& layer, const std::string& blob_path, const std::string& into) {
    const ArchiveApi& api = archive_api("an OCI image layer");
    const UniqueFd blob(::open(blob_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!blob) {
        throw_errno(fmt::format("cannot open {}", quote(blob_path)), errno);
    }
    const UniqueFd root(::open(into.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root) {
        throw_errno(fmt::format("cannot open {}", quote(into)), errno);
    }
    const std::unique_ptr<archive, decltype(api.read_free)> reader(api.read_new(), api.read_free);
    const std::unique_ptr<archive, decltype(api.free)> disk(api.write_disk_new(), api.free);
    if (!reader || !disk) {
        throw Error("libarchive is out of memory");
    }
    const auto reason = [&](archive* from) {
        const char* why = api.error_string(from);
        return std::string(why != nullptr ? why : "libarchive gives no reason");
    };
    api.read_support_filter_gzip(reader.get());
    api.read_support_filter_zstd(reader.get());
    api.read_support_format_tar(reader.get());
    // libarchive's own guards too: no "..", no writing through a symlink. Owners, modes,
    // times and xattrs as the layer says; no file flags (an immutable file could not be
    // removed from the cache again).
    api.write_disk_set_options(disk.get(), ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM |
                                               ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR |
                                               ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                               ARCHIVE_EXTRACT_SECURE_NODOTDOT);
    if (api.read_open_fd(reader.get(), blob.get(), 1 << 16) != ARCHIVE_OK) {
        throw bad_input(fmt::format("is not a tar archive: {}", reason(reader.get())));
    }
    bool first = true;
    for (;;) {
        archive_entry* entry = nullptr;
        const int status = api.read_next_header(reader.get(), &entry);
        if (status == ARCHIVE_EOF) {
            break;
        }
        if (status < ARCHIVE_WARN) {
            throw bad_input(fmt::format("is not a readable tar archive: {}", reason(reader.get())));
        }
        if (first) {
            first = false;
            const int filter = api.filter_code(reader.get(), 0);
            if (filter != expected_filter(layer.compression)) {
                throw bad_input(fmt::format(
                    "is not compressed as its media type {} says; the layout is damaged",
                    quote(layer.blob.media_type)));
            }
        }
        const char* raw_name = api.entry_pathname(entry);
        const std::string path = layer_path(raw_name != nullptr ? raw_name : "", "entry");
        if (path.empty()) {
            continue;  // the layer's root, "./": the cache's directory is it
        }
        const std::string base = base_of(path);
        check_reachable(root.get(), parent_of(path), false, "entry");
        if (base == opaque_marker) {
            make_opaque(root.get(), path);
            continue;
        }
        if (base.starts_with(whiteout_prefix)) {
            make_whiteout(root.get(), path);
            continue;
        }
        if (const char* target = api.entry_hardlink(entry)) {
            const std::string linked = layer_path(target, "hard link target");
            check_reachable(root.get(), linked, true, "hard link target");
            api.entry_set_hardlink(entry, (into + "/" + linked).c_str());
        }
        drop_trusted_xattrs(api, entry);
        api.entry_set_pathname(entry, (into + "/" + path).c_str());
        if (api.read_extract2(reader.get(), entry, disk.get()) < ARCHIVE_WARN) {
            throw Error(fmt::format("cannot unpack {}: {}", quote(path), reason(disk.get())));
        }
    }
    // Directories' modes and times are set last (a read-only directory filled first).
    if (api.close(disk.get()) != ARCHIVE_OK) {
        throw Error(fmt::format("cannot finish unpacking: {}", reason(disk.get())));
    }
}

}  // namespace

std::string LayerCache::path_of(const oci::ImageLayer& layer) const {
    // open_image_layout allows only "sha256:" and 64 hex digits.
    return directory_ + "/sha256/" + layer.blob.digest.substr(7);
}

std::vector<std::string> LayerCache::unpacked(const oci::Image& image) const {
    const auto cached = [](const std::string& path) {
        struct stat status {};
        return ::lstat(path.c_str(), &status) == 0 && S_ISDIR(status.st_mode);
    };
    const auto in_context = [](const oci::ImageLayer& layer, std::size_t index, auto&& work) {
        try {
            work();
        } catch (const Error& e) {
            throw e.with_context(fmt::format("layer {} ({})", index, layer.blob.digest));
        }
    };
    std::vector<std::string> paths;
    for (std::size_t i = 0; i < image.layers.size(); ++i) {
        const auto& layer = image.layers[i];
        paths.push_back(path_of(layer));
        if (!cached(paths.back())) {
            in_context(layer, i, [&] {
                oci::verify_blob(oci::blob_path(image.layout, layer.blob), layer.blob, "its blob");
            });
        }
    }
    for (std::size_t i = 0; i < image.layers.size(); ++i) {
        const auto& layer = image.layers[i];
        if (!cached(paths[i])) {
            in_context(layer, i,
                       [&] { unpack_into_cache(layer, oci::blob_path(image.layout, layer.blob)); });
        }
    }
    return paths;
}

void LayerCache::unpack_into_cache(const oci::ImageLayer& layer,
                                   const std::string& blob_path) const {
    std::error_code error;
    std::filesystem::create_directories(directory_, error);
    if (error) {
        throw Error(fmt::format("cannot create the layer cache {}: {}", quote(directory_),
                                error.message()));
    }
    // Unpacked beside its final place and renamed there only when complete.
    TempDir partial(directory_, ".unpacking-");
    // The layer's root is the container's /.
    ::chmod(partial.path().c_str(), 0755);
    unpack(layer, blob_path, partial.path().string());
    const std::string algorithm_dir = directory_ + "/sha256";
    if (::mkdir(algorithm_dir.c_str(), 0700) != 0 && errno != EEXIST) {
        throw_errno(fmt::format("cannot create {}", quote(algorithm_dir)), errno);
    }
    const std::string final_path = path_of(layer);
    if (::rename(partial.path().c_str(), final_path.c_str()) == 0) {
        partial.release();
    } else if (errno != EEXIST && errno != ENOTEMPTY) {
        // Else another berth unpacked the same layer first: its copy is as good.
        throw_errno(fmt::format("cannot move the layer into {}", quote(final_path)), errno);
    }
}

}  // namespace berth::container
