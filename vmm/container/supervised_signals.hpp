#pragma once
// The signals berth passes on to the container's command, through init: berth reads
// them from a signalfd, init with sigwaitinfo, so both keep them blocked. SIGCHLD tells
// each that its child ended; SIGWINCH that the user's terminal changed size (-t).

#include <signal.h>

namespace berth::container {

inline constexpr int forwarded_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

// forwarded_signals, SIGCHLD and SIGWINCH.
sigset_t supervised_signals();

// Blocks the supervised signals for the lifetime of the object; init and the command
// inherit the mask, and the command clears it before exec.
class BlockedSignals {
public:
    BlockedSignals();
    ~BlockedSignals();
    BlockedSignals(const BlockedSignals&) = delete;
    BlockedSignals& operator=(const BlockedSignals&) = delete;

private:
    sigset_t saved_{};
};

}  // namespace berth::container
