#pragma once
// Files for the harnesses whose code under test opens a path (a disk, an image): all in
// one berth::TempDir (common/temp_dir), removed with it when the process exits.

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string_view>

#include "vmm/common/temp_dir.hpp"
#include "vmm/common/unique_fd.hpp"

namespace berth::fuzz {

// Makes (or empties) file `name` in the scratch folder, holding `bytes`. A failure aborts:
// the harness cannot go on, and libFuzzer reports it.
inline std::filesystem::path scratch_file(std::string_view name,
                                          std::span<const std::uint8_t> bytes) {
    static const TempDir folder("berth-fuzz-");
    const std::filesystem::path path = folder.path() / name;
    const UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd ||
        ::write(fd.get(), bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) {
        std::abort();
    }
    return path;
}

}  // namespace berth::fuzz
