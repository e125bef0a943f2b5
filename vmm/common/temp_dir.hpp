#pragma once
// A directory of our own under the temporary directory ($TMPDIR or /tmp), removed with
// everything in it when its owner goes: scratch space for unpacked archives, the rig's
// shared folder, tests.

#include <filesystem>
#include <string>

namespace berth {

class TempDir {
public:
    // Creates "<tmp>/<prefix>XXXXXX" (mkdtemp, mode 0700); failing that, an Error.
    explicit TempDir(const std::string& prefix);
    // Creates "<parent>/<prefix>XXXXXX" instead: a directory that is renamed into place
    // once complete must be made on the filesystem of its destination.
    TempDir(const std::filesystem::path& parent, const std::string& prefix);
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }

    const std::filesystem::path& path() const { return path_; }
    // Forgets the directory: it was renamed away and is someone else's now.
    void release() { path_.clear(); }

private:
    std::filesystem::path path_;  // empty once moved from
};

}  // namespace berth
