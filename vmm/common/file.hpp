#pragma once
// The one way berth opens the files a user names: inputs (firmware, kernels, initrds,
// disk images, saved results) and outputs (traces, reports).
//
// An input is opened without blocking and checked to be a regular file (or a block
// device where a disk may be one) before anything reads it: a FIFO or a terminal given
// as --kernel is an error, not a hang. An output is written to a temporary file next to
// it and renamed over it only once complete, and it may not be one of the run's inputs:
// `--trace` naming the disk image must not destroy the image.

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "vmm/common/unique_fd.hpp"

namespace berth {

// Which file a path named when it was opened, whatever path reached it.
struct FileIdentity {
    dev_t device = 0;
    ino_t inode = 0;
    bool operator==(const FileIdentity&) const = default;
};

// How the run uses an input; it decides which other uses of the same file conflict.
enum class InputUse {
    read,               // read at start and done with (kernel, initrd, firmware)
    attach_read_only,   // kept open for the guest, never written (a read-only disk)
    attach_read_write,  // kept open and written by the guest (a disk)
};

enum class InputKinds { regular_file, regular_file_or_block_device };

// What to tell the user when the file cannot be used: `fix` for any problem,
// `fix_writable` (when not empty) when it could be opened only for reading.
struct InputHints {
    std::string_view fix;
    std::string_view fix_writable = {};
};

struct InputFile;

// The run's record of one use of a file, dropped when the user of the file closes it
// (a disk of a VM that reboots is opened again by the next boot).
class InputClaim {
public:
    InputClaim() = default;
    ~InputClaim();
    InputClaim(InputClaim&& other) noexcept;
    InputClaim& operator=(InputClaim&& other) noexcept;
    InputClaim(const InputClaim&) = delete;
    InputClaim& operator=(const InputClaim&) = delete;

private:
    friend InputFile open_input_file(const std::filesystem::path&, InputUse, InputKinds,
                                     const InputHints&);
    explicit InputClaim(std::uint64_t id) : id_(id) {}
    std::uint64_t id_ = 0;  // 0: no claim
};

struct InputFile {
    UniqueFd fd;  // blocking again, O_CLOEXEC
    FileIdentity identity;
    bool block_device = false;
    std::uint64_t size = 0;  // st_size of a regular file; 0 for a block device
    InputClaim claim;
};

// Opens `path` for `use`; a missing, unreadable, special or conflicting file is a
// bad-input Error whose message ends in `hints` and names no path (the caller does).
// Uses that conflict: a file attached read-write with any other attachment of it.
InputFile open_input_file(const std::filesystem::path& path, InputUse use, InputKinds kinds,
                          const InputHints& hints);

// All of `input` (a regular file), which must still be input.size bytes long.
std::vector<std::uint8_t> read_all(const InputFile& input);

// Reads all of `path`. `what` names the role ("firmware", "kernel") for messages.
// A missing, unreadable or non-regular file is a bad-input Error, and so is one larger
// than `max_bytes` (checked before reading, so that a huge sparse file costs no memory).
// A caller with a better message for "too large" opens the file itself, checks
// input.size, then calls read_all.
std::vector<std::uint8_t> read_input_file(const std::filesystem::path& path, std::string_view what,
                                          std::uint64_t max_bytes = UINT64_MAX);

// A file being written: a temporary file in the target's directory, renamed over the
// target by commit(); destroyed uncommitted, the temporary goes and the target stays
// as it was.
class OutputFile {
public:
    // Refuses a target that is one of the run's inputs (opened through
    // open_input_file), a directory or a special file. `what` names the role ("trace
    // file") for messages.
    static OutputFile create(const std::filesystem::path& path, std::string_view what);
    ~OutputFile();
    OutputFile(OutputFile&& other) noexcept;
    OutputFile& operator=(OutputFile&&) = delete;
    OutputFile(const OutputFile&) = delete;
    OutputFile& operator=(const OutputFile&) = delete;

    int fd() const { return fd_.get(); }
    const std::filesystem::path& path() const { return target_; }
    // Writes all of `bytes` at the current offset; a failure (disk full) throws.
    void write(std::string_view bytes);
    // Flushes to disk and renames the temporary over the target.
    void commit();

private:
    OutputFile(std::filesystem::path target, std::filesystem::path temporary, UniqueFd fd,
               std::string what);
    std::filesystem::path target_;
    std::filesystem::path temporary_;  // empty once committed
    UniqueFd fd_;
    std::string what_;
};

// Whether `identity` is a file the run has opened as an input (for tests and outputs).
bool is_input_of_this_run(const FileIdentity& identity);

}  // namespace berth
