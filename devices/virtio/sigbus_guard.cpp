#include "devices/virtio/sigbus_guard.hpp"

#include <setjmp.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstring>

#include "vmm/common/fatal_signal.hpp"

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

// The SIGBUS filter: takes a fault of a thread inside a guarded copy, and returns
// (passing the signal on) otherwise.
void take_guarded_fault(int, siginfo_t* info) {
    // si_code > 0: raised by the kernel for a fault of this thread, not sent by kill.
    const bool fault = info != nullptr && info->si_code > 0;
    if (fault && guard.active != 0) {
        guard.active = 0;
        siglongjmp(guard.jump, 1);
    }
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

void install_sigbus_guard() {
    // Once per process; later calls only check the initialisation guard.
    static const bool filter_set = (set_signal_filter(SIGBUS, take_guarded_fault), true);
    static_cast<void>(filter_set);
}

CopyResult copy_guarding_sigbus(std::span<const CopyPiece> pieces) {
    install_sigbus_guard();
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
