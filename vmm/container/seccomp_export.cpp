#include "vmm/container/seccomp_export.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include "vmm/common/error.hpp"
#include "vmm/common/unique_fd.hpp"

namespace berth::container {

std::vector<sock_filter> export_seccomp_program(scmp_filter_ctx filter) {
    // libseccomp 2.5 exports only to a file descriptor: use an anonymous memory file.
    UniqueFd memory(::memfd_create("berth-seccomp", MFD_CLOEXEC));
    if (!memory) {
        throw_errno("cannot create a memfd for the seccomp filter", errno);
    }
    if (const int result = seccomp_export_bpf(filter, memory.get()); result != 0) {
        throw_errno("cannot compile the seccomp filter", -result);
    }
    const off_t size = ::lseek(memory.get(), 0, SEEK_CUR);
    std::vector<sock_filter> program(static_cast<std::size_t>(size) / sizeof(sock_filter));
    const auto bytes = static_cast<ssize_t>(program.size() * sizeof(sock_filter));
    if (size <= 0 ||
        ::pread(memory.get(), program.data(), static_cast<std::size_t>(bytes), 0) != bytes) {
        throw Error("cannot read back the compiled seccomp filter");
    }
    return program;
}

}  // namespace berth::container
