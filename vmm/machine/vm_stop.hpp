#pragma once
// How a running multi-threaded VM comes to an end. Whoever decides the VM is over (a
// vCPU thread on poweroff, reboot or a fatal exit; the console escape; a signal)
// calls request(); the first request sets the exit status (or the error), later ones
// are ignored. Every vCPU is then kicked out of KVM_RUN: immediate_exit makes a
// KVM_RUN that has not started yet return at once, and a signal interrupts one that
// is running. The main thread waits on fd() (an eventfd) alongside its signals.
//
// Pausing (the control API's PUT /vm/pause) uses the same kick: pause() kicks every
// vCPU, and each, finding KVM_RUN interrupted, parks in park_while_paused() until
// resume() or a stop. This costs the vCPU loop nothing per exit: only an interrupted
// KVM_RUN looks at the pause.

#include <pthread.h>

#include <atomic>
#include <condition_variable>
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

    // Kicks every vCPU out of KVM_RUN and returns once all registered vCPUs are parked
    // (or the VM is stopping). False when it was paused already.
    bool pause();
    // Lets the parked vCPUs run again. False when it was not paused.
    bool resume();
    bool paused() const;
    // Called by a vCPU thread whose KVM_RUN was interrupted (a kick, or any signal):
    // waits while the VM is paused, then readies `run` for the next KVM_RUN unless the
    // VM is stopping.
    void park_while_paused(kvm_run& run);
    // Runs `body` with every vCPU parked (pausing the VM for its length unless it was
    // paused already), so that it may read what the vCPU threads write without locks.
    template <typename Body>
    void with_vcpus_parked(Body&& body) {
        const bool paused_here = pause();
        try {
            body();
        } catch (...) {
            if (paused_here) {
                resume();
            }
            throw;
        }
        if (paused_here) {
            resume();
        }
    }
    int fd() const { return event_.fd(); }

    // After all threads have been joined: the status, or rethrows the error.
    int result() const;

private:
    void finish_request();
    void kick_all();  // with mutex_ held

    EventFd event_;
    std::atomic<bool> requested_{false};
    mutable std::mutex mutex_;
    int status_ = 0;
    std::exception_ptr error_;
    bool paused_ = false;
    std::size_t parked_ = 0;  // vCPUs in park_while_paused
    std::condition_variable parking_;
    struct Kickable {
        pthread_t thread;
        kvm_run* run;
    };
    std::vector<Kickable> vcpus_;
};

}  // namespace berth::machine
