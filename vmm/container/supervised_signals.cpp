#include "vmm/container/supervised_signals.hpp"

namespace berth::container {

sigset_t supervised_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (const int signal : forwarded_signals) {
        sigaddset(&set, signal);
    }
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGWINCH);
    return set;
}

BlockedSignals::BlockedSignals() {
    const sigset_t set = supervised_signals();
    ::sigprocmask(SIG_BLOCK, &set, &saved_);
}

BlockedSignals::~BlockedSignals() {
    ::sigprocmask(SIG_SETMASK, &saved_, nullptr);
}

}  // namespace berth::container
