#pragma once
// Raw mode on the user's terminal while berth relays keystrokes to a guest's console or
// a container's pseudo-terminal (so Ctrl-C, arrows and tab go through), restored when
// the object goes away, and also when a fatal signal is about to end berth: a shell
// left raw could not even show the user what they type. The restore on a fatal signal
// is a LastWordsHook, not a handler of its own (common/fatal_signal.hpp says why).
//
// One terminal is raw at a time in a process: the hook has no argument, so the saved
// state lives in one place.

#include <optional>

#include "vmm/common/fatal_signal.hpp"

namespace berth {

class RawTerminal {
public:
    // What happens to berth's own output meanwhile.
    enum class Output {
        // Output processing stays on ("\n" still starts a line): berth writes a guest's
        // serial bytes and its own messages straight to the terminal.
        processed,
        // Untouched bytes: what is relayed comes from a pseudo-terminal whose own line
        // discipline has done the processing already.
        raw,
    };

    // Does nothing when `fd` is not a terminal.
    explicit RawTerminal(int fd, Output output = Output::processed);
    ~RawTerminal();
    RawTerminal(const RawTerminal&) = delete;
    RawTerminal& operator=(const RawTerminal&) = delete;

    bool active() const { return active_; }

private:
    int fd_;
    bool active_ = false;
    std::optional<LastWordsHook> last_words_;
};

}  // namespace berth
