#include "vmm/common/thread.hpp"

#include <exception>
#include <memory>
#include <utility>

#include "vmm/common/error.hpp"

namespace berth {

namespace {

extern "C" void* run_thread_body(void* argument) {
    const std::unique_ptr<std::function<void()>> body(
        static_cast<std::function<void()>*>(argument));
    try {
        (*body)();
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

Thread::Thread(std::function<void()> body) {
    ThreadAttributes attributes;
    if (const int err = ::pthread_attr_setstacksize(attributes.get(), stack_size); err != 0) {
        throw_errno("cannot start a thread: cannot set its stack size", err);
    }
    auto owned = std::make_unique<std::function<void()>>(std::move(body));
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

}  // namespace berth
