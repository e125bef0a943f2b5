#pragma once
// One error type for all of berth. A message reads as a chain, outermost context
// first: "cannot start VM: cannot load firmware hello.bin: file is empty".
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
