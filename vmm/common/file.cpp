#include "vmm/common/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include <fmt/format.h>

#include "vmm/common/error.hpp"

namespace berth {

namespace {

// The inputs this process has opened. One berth process is one run, so "an input of
// this run" is "a file this process opened as input"; keeping the list here spares
// every command from handing its inputs to every output.
struct OpenedInput {
    std::uint64_t claim = 0;  // 0: a `read` input, kept for the whole run
    FileIdentity identity;
    InputUse use = InputUse::read;
    // A `read` input's file stays open: were it deleted, its inode number could be
    // reused by a new file, which would then count as the input.
    UniqueFd held;
};

struct Registry {
    std::mutex mutex;
    std::vector<OpenedInput> inputs;
    std::uint64_t next_claim = 1;
};

Registry& registry() {
    static Registry instance;
    return instance;
}

bool conflicts(InputUse existing, InputUse wanted) {
    // A `read` input is done with before the guest runs; attachments live alongside
    // each other, and two of one file are safe only when neither writes.
    if (existing == InputUse::read || wanted == InputUse::read) {
        return false;
    }
    return existing == InputUse::attach_read_write || wanted == InputUse::attach_read_write;
}

std::string kind_name(mode_t mode) {
    if (S_ISDIR(mode)) {
        return "a directory";
    }
    if (S_ISFIFO(mode)) {
        return "a FIFO (named pipe)";
    }
    if (S_ISCHR(mode)) {
        return "a character device";
    }
    if (S_ISBLK(mode)) {
        return "a block device";
    }
    if (S_ISSOCK(mode)) {
        return "a socket";
    }
    return "a special file";
}

}  // namespace

InputClaim::~InputClaim() {
    if (id_ == 0) {
        return;
    }
    Registry& r = registry();
    const std::lock_guard lock(r.mutex);
    std::erase_if(r.inputs, [this](const OpenedInput& input) { return input.claim == id_; });
}

InputClaim::InputClaim(InputClaim&& other) noexcept : id_(std::exchange(other.id_, 0)) {}

InputClaim& InputClaim::operator=(InputClaim&& other) noexcept {
    if (this != &other) {
        InputClaim old(std::move(*this));
        id_ = std::exchange(other.id_, 0);
    }
    return *this;
}

InputFile open_input_file(const std::filesystem::path& path, InputUse use, InputKinds kinds,
                          const InputHints& hints) {
    const bool write = use == InputUse::attach_read_write;
    // O_NONBLOCK: opening a FIFO would otherwise wait for a writer, forever.
    UniqueFd fd(
        ::open(path.c_str(), (write ? O_RDWR : O_RDONLY) | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    if (!fd) {
        const int err = errno;
        const bool read_only_file = write && (err == EACCES || err == EROFS);
        // A file read whole is named by the caller's "cannot read ..."; a disk is not.
        throw bad_input(fmt::format(
            "{}; {}",
            use == InputUse::read ? std::string(std::strerror(err))
                                  : errno_message("cannot open", err),
            read_only_file && !hints.fix_writable.empty() ? hints.fix_writable : hints.fix));
    }
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0) {
        throw_errno("cannot stat", errno);
    }
    const bool block_allowed = kinds == InputKinds::regular_file_or_block_device;
    if (!S_ISREG(info.st_mode) && !(block_allowed && S_ISBLK(info.st_mode))) {
        throw bad_input(fmt::format("is {}, not a regular file{}; {}", kind_name(info.st_mode),
                                    block_allowed ? " or block device" : "", hints.fix));
    }
    const int flags = ::fcntl(fd.get(), F_GETFL);
    if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
        throw_errno("cannot clear O_NONBLOCK", errno);
    }
    InputFile input;
    input.identity = {info.st_dev, info.st_ino};
    input.block_device = S_ISBLK(info.st_mode);
    input.size = S_ISREG(info.st_mode) ? static_cast<std::uint64_t>(info.st_size) : 0;
    Registry& r = registry();
    const std::lock_guard lock(r.mutex);
    bool read_before = false;
    for (const auto& other : r.inputs) {
        if (other.identity == input.identity && conflicts(other.use, use)) {
            throw bad_input(
                "is the same file as another disk of this VM (a second name for it, or the "
                "same name twice); attach each file once, or every time read-only");
        }
        read_before = read_before || (other.identity == input.identity &&
                                      other.use == InputUse::read && use == InputUse::read);
    }
    const std::uint64_t claim = use == InputUse::read ? 0 : r.next_claim++;
    // A file read whole is remembered once: a guest that reboots (--reboot restart)
    // has its kernel and initrd read again, and each read must not keep another
    // descriptor for the rest of the run.
    if (!read_before) {
        r.inputs.push_back({claim, input.identity, use,
                            UniqueFd(claim == 0 ? ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0) : -1)});
    }
    input.claim = InputClaim(claim);
    input.fd = std::move(fd);
    return input;
}

std::vector<std::uint8_t> read_all(const InputFile& input) {
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(input.size));
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t got = ::pread(input.fd.get(), bytes.data() + done, bytes.size() - done,
                                    static_cast<off_t>(done));
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            throw bad_input(std::strerror(errno));
        }
        if (got == 0) {
            throw bad_input("the file shrank while being read");
        }
        done += static_cast<std::size_t>(got);
    }
    return bytes;
}

std::vector<std::uint8_t> read_input_file(const std::filesystem::path& path, std::string_view what,
                                          std::uint64_t max_bytes) {
    try {
        const InputFile input = open_input_file(path, InputUse::read, InputKinds::regular_file,
                                                {"give the path of a readable file"});
        if (input.size > max_bytes) {
            throw bad_input(fmt::format("is {} bytes, more than a {} can be ({}); check the path",
                                        input.size, what, max_bytes));
        }
        return read_all(input);
    } catch (const Error& e) {
        throw e.with_context(fmt::format("cannot read {} {}", what, path.string()));
    }
}

bool is_input_of_this_run(const FileIdentity& identity) {
    Registry& r = registry();
    const std::lock_guard lock(r.mutex);
    return std::any_of(r.inputs.begin(), r.inputs.end(),
                       [&](const OpenedInput& input) { return input.identity == identity; });
}

OutputFile::OutputFile(std::filesystem::path target, std::filesystem::path temporary, UniqueFd fd,
                       std::string what)
    : target_(std::move(target)),
      temporary_(std::move(temporary)),
      fd_(std::move(fd)),
      what_(std::move(what)) {}

OutputFile::OutputFile(OutputFile&& other) noexcept
    : target_(std::move(other.target_)),
      temporary_(std::exchange(other.temporary_, {})),
      fd_(std::move(other.fd_)),
      what_(std::move(other.what_)) {}

OutputFile::~OutputFile() {
    if (!temporary_.empty()) {
        ::unlink(temporary_.c_str());
    }
}

OutputFile OutputFile::create(const std::filesystem::path& path, std::string_view what) {
    const std::string name = fmt::format("{} {}", what, path.string());
    std::filesystem::path target = path;
    mode_t mode = 0;
    struct stat info {};
    if (::stat(path.c_str(), &info) == 0) {
        if (!S_ISREG(info.st_mode)) {
            throw bad_input(
                fmt::format("{} is {}, not a regular file; give the path of a new "
                            "or regular file",
                            name, kind_name(info.st_mode)));
        }
        if (is_input_of_this_run({info.st_dev, info.st_ino})) {
            throw bad_input(fmt::format(
                "{} is also an input of this run, and writing it would destroy it; give "
                "another path",
                name));
        }
        // Through a symlink, replace the file it names, not the link.
        std::error_code error;
        if (auto resolved = std::filesystem::canonical(path, error); !error) {
            target = std::move(resolved);
        }
        mode = info.st_mode & 07777;
    } else if (errno != ENOENT) {
        throw bad_input(fmt::format("{}: {}; give a writable path", name,
                                    errno_message("cannot create", errno)));
    } else {
        const mode_t mask = ::umask(0);
        ::umask(mask);
        mode = 0666 & ~mask;
    }
    const std::filesystem::path directory =
        target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
    std::string pattern =
        (directory / ("." + target.filename().string() + ".berth-XXXXXX")).string();
    UniqueFd fd(::mkostemp(pattern.data(), O_CLOEXEC));
    if (!fd) {
        throw bad_input(fmt::format("{}: {}; give a writable path", name,
                                    errno_message("cannot create", errno)));
    }
    OutputFile output(target, pattern, std::move(fd), name);
    if (::fchmod(output.fd(), mode) != 0) {
        throw_errno(fmt::format("{}: cannot set the mode", name), errno);
    }
    return output;
}

void OutputFile::write(std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t done = ::write(fd_.get(), bytes.data(), bytes.size());
        if (done < 0 && errno == EINTR) {
            continue;
        }
        if (done < 0) {
            throw_errno(fmt::format("cannot write {}", what_), errno);
        }
        bytes.remove_prefix(static_cast<std::size_t>(done));
    }
}

void OutputFile::commit() {
    if (temporary_.empty()) {
        return;
    }
    if (::rename(temporary_.c_str(), target_.c_str()) != 0) {
        throw_errno(fmt::format("cannot write {}: rename", what_), errno);
    }
    temporary_.clear();
}

}  // namespace berth
