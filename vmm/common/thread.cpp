#include "vmm/common/thread.hpp"

#include <atomic>
#include <exception>
#include <memory>
#include <utility>

#include "vmm/common/error.hpp"

namespace berth {

namespace {

std::atomic<ThreadStartHook> start_hook{nullptr};
thread_local std::string_view current_kind;

struct ThreadStart {
    std::function<void()> body;
    std::string_view kind;
    std::string_view creator_kind;
};

extern "C" void* run_thread_body(void* argument) {
    const std::unique_ptr<ThreadStart> start(static_cast<ThreadStart*>(argument));
    try {
        if (!start->kind.empty()) {
            current_kind = start->kind;
            // Its kind as the thread's name (/proc/PID/task/TID/comm, top -H, gdb): at
            // most 15 bytes.
            char name[16] = {};
            start->kind.copy(name, sizeof name - 1);
            ::pthread_setname_np(::pthread_self(), name);
            if (const ThreadStartHook hook = start_hook.load(); hook != nullptr) {
                hook(start->kind, start->creator_kind);
            }
        }
        start->body();
    } catch (...) {
        // As with std::thread: a body must handle its own errors.
        std::terminate();
    }
    return nullptr;
}

// Owns a pthread_attr_t for the length of one pthread_create.
class ThreadAttributes {
public:
    ThreadAttributes() {
        if (const int err = ::pthread_attr_init(&attr_); err != 0) {
            throw_errno("cannot start a thread: pthread_attr_init failed", err);
        }
    }
    ~ThreadAttributes() { ::pthread_attr_destroy(&attr_); }
    ThreadAttributes(const ThreadAttributes&) = delete;
    ThreadAttributes& operator=(const ThreadAttributes&) = delete;

    pthread_attr_t* get() { return &attr_; }

private:
    pthread_attr_t attr_{};
};

}  // namespace

Thread::Thread(std::function<void()> body) : Thread(std::string_view{}, std::move(body)) {}

Thread::Thread(std::string_view kind, std::function<void()> body) {
    ThreadAttributes attributes;
    if (const int err = ::pthread_attr_setstacksize(attributes.get(), stack_size); err != 0) {
        throw_errno("cannot start a thread: cannot set its stack size", err);
    }
    auto owned = std::make_unique<ThreadStart>(ThreadStart{std::move(body), kind, current_kind});
    if (const int err = ::pthread_create(&handle_, attributes.get(), run_thread_body, owned.get());
        err != 0) {
        throw_errno("cannot start a thread", err);
    }
    owned.release();  // run_thread_body owns it now
    running_ = true;
}

Thread::~Thread() {
    join();
}

Thread::Thread(Thread&& other) noexcept
    : handle_(other.handle_), running_(std::exchange(other.running_, false)) {}

Thread& Thread::operator=(Thread&& other) noexcept {
    if (this != &other) {
        join();
        handle_ = other.handle_;
        running_ = std::exchange(other.running_, false);
    }
    return *this;
}

void Thread::join() noexcept {
    if (running_) {
        ::pthread_join(handle_, nullptr);
        running_ = false;
    }
}

void set_thread_start_hook(ThreadStartHook hook) {
    start_hook = hook;
}

std::string_view this_thread_kind() {
    return current_kind;
}

void set_this_thread_kind(std::string_view kind) {
    current_kind = kind;
}

}  // namespace berth
