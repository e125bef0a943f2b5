#include "vmm/bench/tree_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"

namespace berth::bench {

namespace {

// Set-ID bits would make a file of the archive a way up for whoever may run it.
constexpr mode_t kept_permissions = 01777;

Error refused(std::string_view path, std::string_view why) {
    return bad_input(fmt::format("entry {} {}", quote(path), why));
}

// The names of `path`, or bad input when it is empty, absolute, climbs with "..", or
// holds a NUL ("." names are dropped).
std::vector<std::string> components(std::string_view path) {
    if (path.find('\0') != std::string_view::npos) {
        throw refused(path, "has a NUL in its name");
    }
    if (path.empty() || path.front() == '/') {
        throw refused(path,
                      "is not a relative path; an archive berth unpacks holds relative names");
    }
    std::vector<std::string> names;
    std::size_t start = 0;
    while (start <= path.size()) {
        std::size_t end = path.find('/', start);
        if (end == std::string_view::npos) {
            end = path.size();
        }
        const std::string_view name = path.substr(start, end - start);
        if (name == "..") {
            throw refused(path, "climbs out of the folder with '..'");
        }
        if (!name.empty() && name != ".") {
            names.emplace_back(name);
        }
        start = end + 1;
    }
    if (names.empty()) {
        throw refused(path, "names no file");
    }
    return names;
}

}  // namespace

TreeWriter::TreeWriter(const std::filesystem::path& root)
    : root_(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)) {
    if (!root_) {
        throw_errno(fmt::format("cannot open {}", root.string()), errno);
    }
}

TreeWriter::Place TreeWriter::place_of(std::string_view path) const {
    std::vector<std::string> names = components(path);
    Place place;
    place.name = std::move(names.back());
    names.pop_back();
    place.parent = UniqueFd(::fcntl(root_.get(), F_DUPFD_CLOEXEC, 0));
    if (!place.parent) {
        throw_errno("cannot duplicate a descriptor", errno);
    }
    for (const auto& name : names) {
        // A missing folder on the way is made (archives need not list every folder).
        if (::mkdirat(place.parent.get(), name.c_str(), 0755) != 0 && errno != EEXIST) {
            throw_errno(fmt::format("cannot create the folder of entry {}", quote(path)), errno);
        }
        UniqueFd next(::openat(place.parent.get(), name.c_str(),
                               O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!next) {
            const int err = errno;
            struct stat info {};
            if (::fstatat(place.parent.get(), name.c_str(), &info, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISLNK(info.st_mode)) {
                throw refused(path, fmt::format("goes through the symlink {}; berth does not write "
                                                "through links while unpacking",
                                                quote(name)));
            }
            if (err == ENOTDIR) {
                throw refused(path,
                              fmt::format("goes through {}, which is not a folder", quote(name)));
            }
            throw_errno(fmt::format("cannot open the folder of entry {}", quote(path)), err);
        }
        place.parent = std::move(next);
    }
    return place;
}

void TreeWriter::replace(const Place& place, std::string_view path) const {
    struct stat info {};
    if (::fstatat(place.parent.get(), place.name.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) {
        return;  // nothing there
    }
    if (S_ISDIR(info.st_mode)) {
        throw refused(path, "would replace a folder of the same name");
    }
    if (::unlinkat(place.parent.get(), place.name.c_str(), 0) != 0) {
        throw_errno(fmt::format("cannot replace entry {}", quote(path)), errno);
    }
}

void TreeWriter::make_directory(std::string_view path, mode_t mode) {
    const Place place = place_of(path);
    const mode_t permissions = mode & kept_permissions;
    if (::mkdirat(place.parent.get(), place.name.c_str(), permissions) != 0 && errno != EEXIST) {
        throw_errno(fmt::format("cannot create folder {}", quote(path)), errno);
    }
    // A folder listed twice (or made on the way) takes the archive's mode; a link of that
    // name is not a folder, and its target is not ours to chmod.
    UniqueFd folder(::openat(place.parent.get(), place.name.c_str(),
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!folder) {
        if (errno == ELOOP || errno == ENOTDIR) {
            throw refused(path, "is a folder, but a file or symlink of that name came first");
        }
        throw_errno(fmt::format("cannot open folder {}", quote(path)), errno);
    }
    if (::fchmod(folder.get(), permissions) != 0) {
        throw_errno(fmt::format("cannot set the mode of folder {}", quote(path)), errno);
    }
}

void TreeWriter::make_symlink(std::string_view path, std::string_view target) {
    const Place place = place_of(path);
    if (target.find('\0') != std::string_view::npos) {
        throw refused(path, "is a symlink with a NUL in its target");
    }
    replace(place, path);
    if (::symlinkat(std::string(target).c_str(), place.parent.get(), place.name.c_str()) != 0) {
        throw_errno(fmt::format("cannot create symlink {}", quote(path)), errno);
    }
}

void TreeWriter::write_file(std::string_view path, std::span<const std::uint8_t> bytes,
                            mode_t mode) {
    const Place place = place_of(path);
    replace(place, path);
    // O_EXCL with O_NOFOLLOW: a link that appeared since is not written through either.
    UniqueFd file(::openat(place.parent.get(), place.name.c_str(),
                           O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!file) {
        throw_errno(fmt::format("cannot create file {}", quote(path)), errno);
    }
    while (!bytes.empty()) {
        const ssize_t written = ::write(file.get(), bytes.data(), bytes.size());
        if (written < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw_errno(fmt::format("cannot write file {}", quote(path)), errno);
        }
        bytes = bytes.subspan(static_cast<std::size_t>(written));
    }
    if (::fchmod(file.get(), mode & kept_permissions) != 0) {
        throw_errno(fmt::format("cannot set the mode of file {}", quote(path)), errno);
    }
}

}  // namespace berth::bench
