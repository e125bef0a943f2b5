#pragma once
// One error type for all of berth. A message reads as a chain, outermost context
// first, one line: "cannot start VM: disk 0 (debian.img): cannot open: Permission
// denied (errno 13); make the file readable and writable, or attach it read-only".
// Each link says one thing, once:
// - the code that meets the problem says what is wrong with the thing it was handed,
//   in that thing's terms, and how to fix it after "; " ("is 0 bytes; ...");
// - each seam above puts in front which thing it was: devices and loaders name the
//   role they know ("kernel vmlinuz", "disk image x.img"), the machine names the part
//   of the VM with the words of its options ("disk 0 (x.img)", "memory 16 MiB",
//   "cpus 0"), and the command line says what it was doing ("cannot start VM");
// - only vmm/cli names command-line flags (--memory, --disk): below it, code is
//   called by more than one command and by tests.
// A catch that adds context keeps the cause's text (with_context), never replaces it.
// The exit status travels with the error so that `main` needs no special cases:
// bad input from the user is status 2, a failure of the host or the guest is 1.

#include <stdexcept>
#include <string>

namespace berth {

enum class ExitStatus : int {
    failure = 1,    // the host or the guest failed (ioctl error, triple fault, ...)
    bad_input = 2,  // the user gave something we cannot use (flag, file, size)
};

class Error : public std::runtime_error {
public:
    explicit Error(std::string message, ExitStatus status = ExitStatus::failure)
        : std::runtime_error(std::move(message)), status_(status) {}

    ExitStatus status() const { return status_; }

    // Returns a copy of this error with `context` in front: "context: message".
    Error with_context(const std::string& context) const {
        return Error(context + ": " + what(), status_);
    }

private:
    ExitStatus status_;
};

// Shorthand for the common case of rejecting user input.
inline Error bad_input(std::string message) {
    return Error(std::move(message), ExitStatus::bad_input);
}

// Builds "what: strerror(errno) (errno N)" for a failed system call.
std::string errno_message(const std::string& what, int err);

// Throws Error for a failed system call, naming the call and errno.
[[noreturn]] void throw_errno(const std::string& what, int err);

}  // namespace berth
