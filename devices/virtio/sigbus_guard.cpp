#include "virtio/sigbus_guard.hpp"

#include <setjmp.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstring>
#include <mutex>

namespace berth::devices::virtio {

namespace {

// Per thread: where the handler jumps back to, and whether this thread is copying.
// Plain data, touched by the thread before any fault, so the handler's access needs
// no allocation.
struct Guard {
    sigjmp_buf jump;
    volatile std::sig_atomic_t active;
};
thread_local Guard guard;

std::mutex install_mutex;
// The SIGBUS action before ours, to hand foreign faults to. Written under
// install_mutex only while ours is not installed, read only by our handler.
struct sigaction previous_action;

void on_sigbus(int signal_number, siginfo_t* info, void*) {
    // si_code > 0: raised by the kernel for a fault of this thread, not sent by kill.
    const bool fault = info != nullptr && info->si_code > 0;
    if (fault && guard.active != 0) {
        guard.active = 0;
        siglongjmp(guard.jump, 1);
    }
    ::sigaction(signal_number, &previous_action, nullptr);
    if (!fault) {
        ::raise(signal_number);
    }
    // A fault: returning runs the faulting instruction again, which faults again and
    // now meets the previous action with its full siginfo.
}

struct sigaction current_action() {
    struct sigaction current {};
    ::sigaction(SIGBUS, nullptr, &current);
    return current;
}

bool is_ours(const struct sigaction& action) {
    return (action.sa_flags & SA_SIGINFO) != 0 && action.sa_sigaction == on_sigbus;
}

void install_handler() {
    const std::lock_guard lock(install_mutex);
    const struct sigaction current = current_action();
    if (is_ours(current)) {
        return;  // another thread was quicker
    }
    previous_action = current;
    struct sigaction ours {};
    ours.sa_sigaction = on_sigbus;
    sigemptyset(&ours.sa_mask);
    // SA_NODEFER: SIGBUS stays unblocked while the handler runs, so leaving it with
    // siglongjmp (which does not restore the signal mask: that would be a system call
    // per copy) leaves the thread able to catch the next one. A SIGBUS that is blocked
    // when a fault raises it kills the process.
    ours.sa_flags = SA_SIGINFO | SA_NODEFER;
    ::sigaction(SIGBUS, &ours, nullptr);
}

// Bytes per memcpy call. glibc's memcpy switches to `rep movsb` above a size threshold
// (8 KiB on a CPU with AVX2 and ERMS but without FSRM), and TCG, which runs the rig,
// executes `rep movsb` a byte at a time: a guest segment of physically contiguous
// pages (a 1 MiB O_DIRECT buffer can be one) copied in one call was as slow as
// preadv. 4 KiB calls stay on glibc's vector loop, as in the measurement that
// motivated the mapping; on hardware the extra calls cost nothing measurable.
constexpr std::size_t copy_chunk = 4096;

// Kept out of line so that nothing of the caller lives across sigsetjmp.
[[gnu::noinline]] void copy_all(std::span<const CopyPiece> pieces) {
    for (const CopyPiece& piece : pieces) {
        for (std::size_t done = 0; done < piece.length; done += copy_chunk) {
            std::memcpy(piece.to + done, piece.from + done,
                        std::min(copy_chunk, piece.length - done));
        }
    }
}

}  // namespace

CopyResult copy_guarding_sigbus(std::span<const CopyPiece> pieces) {
    if (!is_ours(current_action())) {
        install_handler();
    }
    Guard& mine = guard;
    if (sigsetjmp(mine.jump, 0) != 0) {
        return CopyResult::bus_error;  // the handler cleared `active`
    }
    mine.active = 1;
    // The copy must not move out from between the flag's stores.
    std::atomic_signal_fence(std::memory_order_seq_cst);
    copy_all(pieces);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    mine.active = 0;
    return CopyResult::copied;
}

}  // namespace berth::devices::virtio
