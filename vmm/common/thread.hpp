#pragma once
// berth's threads: the part of std::thread's interface we use, with a small stack.
//
// Why not std::thread: its threads get the process's default stack (8 MiB, from
// RLIMIT_STACK). Only touched pages cost memory — unless transparent huge pages are
// on for every mapping ("always", the default of Debian's kernel): then the first
// touch near the top of the stack can bring in a whole 2 MiB huge page, which shows
// up as 2 MiB of VMM overhead next to the guest (measured in tests/bench/boot.sh).
// A stack smaller than 2 MiB cannot hold an aligned huge page, and ours need a few
// tens of KiB (vCPU exits, device workers, the console reader).
//
// Unlike std::thread, the destructor joins a thread that is still running, so an
// exception unwinding past a Thread waits for it instead of calling std::terminate.

#include <pthread.h>

#include <cstddef>
#include <functional>

namespace berth {

class Thread {
public:
    // Half a MiB: far more than our threads use (sanitizer builds included), and
    // below the 2 MiB huge page size.
    static constexpr std::size_t stack_size = 512 * 1024;

    Thread() = default;
    // Starts `body` on a new thread; throws berth::Error when the host cannot.
    explicit Thread(std::function<void()> body);
    ~Thread();

    Thread(Thread&& other) noexcept;
    // Joins the thread this one held, if any, before taking over `other`'s.
    Thread& operator=(Thread&& other) noexcept;
    Thread(const Thread&) = delete;
    Thread& operator=(const Thread&) = delete;

    bool joinable() const noexcept { return running_; }
    // Waits for the body to return. No-op when there is no thread.
    void join() noexcept;

private:
    pthread_t handle_{};
    bool running_ = false;
};

}  // namespace berth
