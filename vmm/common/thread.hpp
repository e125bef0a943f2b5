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
#include <string_view>

namespace berth {

class Thread {
public:
    // Half a MiB: far more than our threads use (sanitizer builds included), and
    // below the 2 MiB huge page size.
    static constexpr std::size_t stack_size = 512 * 1024;

    Thread() = default;
    // Starts `body` on a new thread; throws berth::Error when the host cannot.
    explicit Thread(std::function<void()> body);
    // The same for a thread of a named kind ("vcpu", "virtio-blk", "api"; a string
    // literal): the thread start hook, if one is set, runs on the new thread before
    // `body` (a VM run's sandbox installs that kind's seccomp filter there).
    Thread(std::string_view kind, std::function<void()> body);
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

// Runs on every new thread of a kind, before its body, with the kind of the thread
// that created it ("" for the main thread or a thread without one). Set it before
// such threads start; nullptr (the default) turns it off.
using ThreadStartHook = void (*)(std::string_view kind, std::string_view creator_kind);
void set_thread_start_hook(ThreadStartHook hook);

// The kind the calling thread was started as, or was given by set_this_thread_kind
// ("" for none). Static storage: kinds are string literals.
std::string_view this_thread_kind();
void set_this_thread_kind(std::string_view kind);

}  // namespace berth
