#pragma once
// One handler per fatal signal for all of berth, so that the parts of berth that care
// about those signals cannot knock each other out.
//
// Why: two parts of berth want SIGBUS. virtio-blk's guarded copies turn a SIGBUS from
// a truncated image into a failed request (devices/virtio/sigbus_guard.hpp); the raw
// terminal wants to put the terminal back before berth dies of a fatal signal
// (common/raw_terminal.hpp). Each installing its own sigaction replaces the other's, and
// plain chaining (each keeps the action it replaced and calls it) depends on the order
// of installation: with the terminal's handler on top, a guarded copy's SIGBUS would
// first put the terminal back into cooked mode, under a VM that goes on running.
//
// How: the first registration installs `dispatch` for the signal, keeping the action
// it found (SIG_DFL, or a handler from before main such as AddressSanitizer's). Every
// delivery then goes, in this fixed order, whoever registered first:
//   1. the signal's filter, which may take the signal (it leaves by siglongjmp);
//   2. the last-words hooks (restore the terminal), once the signal is going to end
//      the process;
//   3. the action found at installation: SIG_DFL ends the process as it would have
//      without berth's handler; a real handler is called (with its siginfo when it
//      asked for one).
// The dispatcher stays installed for the life of the process: with nothing
// registered it only passes signals on, and taking it out could race with a thread
// inside it. Code in berth registers here instead of calling sigaction for these
// signals; an action installed over the dispatcher replaces all of this.

#include <signal.h>

#include <array>

namespace berth {

// The signals a fault or an abort ends berth with.
inline constexpr std::array<int, 5> fatal_signals = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};

// Sees `signal_number` before anything else. It takes the signal by leaving with
// siglongjmp (the dispatcher runs with SA_NODEFER, so the signal is not left blocked
// when it does), and returns when the signal is not its. Async-signal-safe code only.
using SignalFilter = void (*)(int signal_number, siginfo_t* info);

// Sets the filter of `signal_number` (one of fatal_signals), for the rest of the
// process. Each signal has room for one filter; setting the same one again does
// nothing, setting another throws berth::Error.
void set_signal_filter(int signal_number, SignalFilter filter);

// Runs `hook` when one of fatal_signals is about to end the process, for as long as
// the object lives. Async-signal-safe code only. A fault inside the hook goes straight
// on to step 3, so a broken hook cannot loop.
class LastWordsHook {
public:
    using Function = void (*)();

    // Throws berth::Error when all slots are taken (a handful: berth needs one).
    explicit LastWordsHook(Function hook);
    ~LastWordsHook();
    LastWordsHook(const LastWordsHook&) = delete;
    LastWordsHook& operator=(const LastWordsHook&) = delete;

private:
    int slot_;
};

}  // namespace berth
