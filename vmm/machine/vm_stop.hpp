#pragma once
// How a running multi-threaded VM comes to an end. Whoever decides the VM is over (a
// vCPU thread on poweroff, reboot or a fatal exit; the console escape; a signal)
// calls request(); the first request sets the exit status (or the error), later ones
// are ignored. Every vCPU is then kicked out of KVM_RUN: immediate_exit makes a
// KVM_RUN that has not started yet return at once, and a signal interrupts one that
// is running. The main thread waits on fd() (an eventfd) alongside its signals.

#include <pthread.h>

#include <atomic>
#include <exception>
#include <mutex>
#include <optional>
#include <vector>

#include "vmm/kvm/kvm_abi.hpp"

#include "vmm/common/event_fd.hpp"

namespace berth::machine {

class VmStop {
public:
    VmStop() = default;

    // The signal used to kick vCPU threads; its handler does nothing, it only makes
    // KVM_RUN return EINTR. Installs the handler (once per process).
    static int kick_signal();

    // A vCPU thread registers itself before its first KVM_RUN.
    void add_vcpu(pthread_t thread, kvm_run* run);

    void request(int status);
    void request_error(std::exception_ptr error);

    bool requested() const { return requested_.load(std::memory_order_acquire); }
    int fd() const { return event_.fd(); }

    // After all threads have been joined: the status, or rethrows the error.
    int result() const;

private:
    void finish_request();

    EventFd event_;
    std::atomic<bool> requested_{false};
    std::mutex mutex_;
    int status_ = 0;
    std::exception_ptr error_;
    struct Kickable {
        pthread_t thread;
        kvm_run* run;
    };
    std::vector<Kickable> vcpus_;
};

}  // namespace berth::machine
