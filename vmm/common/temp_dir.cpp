#include "vmm/common/temp_dir.hpp"

#include <stdlib.h>

#include <cerrno>
#include <system_error>

#include <fmt/format.h>

#include "vmm/common/error.hpp"

namespace berth {

TempDir::TempDir(const std::string& prefix)
    : TempDir(std::filesystem::temp_directory_path(), prefix) {}

TempDir::TempDir(const std::filesystem::path& parent, const std::string& prefix) {
    std::string pattern = (parent / (prefix + "XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw_errno(fmt::format("cannot create a directory like {}", pattern), errno);
    }
    path_ = pattern;
}

TempDir::~TempDir() {
    if (!path_.empty()) {
        std::error_code ignored;  // a destructor must not throw; leftovers are in /tmp
        std::filesystem::remove_all(path_, ignored);
    }
}

}  // namespace berth
