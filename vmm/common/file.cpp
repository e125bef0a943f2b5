#include "vmm/common/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/unique_fd.hpp"

namespace berth {

std::vector<std::uint8_t> read_input_file(const std::filesystem::path& path,
                                          std::string_view what) {
    auto fail = [&](const std::string& why) {
        return bad_input(fmt::format("cannot read {} {}: {}; give the path of a readable file",
                                     what, path.string(), why));
    };
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        throw fail(std::strerror(errno));
    }
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0) {
        throw fail(std::strerror(errno));
    }
    if (!S_ISREG(info.st_mode)) {
        throw fail(S_ISDIR(info.st_mode) ? "is a directory, not a regular file"
                                         : "is not a regular file");
    }
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(info.st_size));
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t got = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            throw fail(std::strerror(errno));
        }
        if (got == 0) {
            throw fail("file shrank while being read");
        }
        done += static_cast<std::size_t>(got);
    }
    return bytes;
}

}  // namespace berth
