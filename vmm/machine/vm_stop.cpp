#include "vmm/machine/vm_stop.hpp"

#include <signal.h>

namespace berth::machine {

namespace {

void ignore_kick(int) {}

}  // namespace

int VmStop::kick_signal() {
    static const int signal_number = [] {
        struct sigaction action {};
        action.sa_handler = ignore_kick;
        sigemptyset(&action.sa_mask);
        action.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return EINTR
        ::sigaction(SIGUSR1, &action, nullptr);
        return SIGUSR1;
    }();
    return signal_number;
}

void VmStop::add_vcpu(pthread_t thread, kvm_run* run) {
    std::lock_guard lock(mutex_);
    vcpus_.push_back({thread, run});
    if (requested_.load() || paused_) {
        run->immediate_exit = 1;
    }
}

void VmStop::request(int status) {
    {
        std::lock_guard lock(mutex_);
        if (requested_.load()) {
            return;
        }
        status_ = status;
        requested_.store(true, std::memory_order_release);
    }
    finish_request();
}

void VmStop::request_error(std::exception_ptr error) {
    {
        std::lock_guard lock(mutex_);
        if (requested_.load()) {
            return;
        }
        error_ = std::move(error);
        requested_.store(true, std::memory_order_release);
    }
    finish_request();
}

void VmStop::kick_all() {
    for (const auto& vcpu : vcpus_) {
        vcpu.run->immediate_exit = 1;
        ::pthread_kill(vcpu.thread, kick_signal());
    }
}

void VmStop::finish_request() {
    {
        std::lock_guard lock(mutex_);
        kick_all();
    }
    parking_.notify_all();  // parked vCPUs leave, a pause() stops waiting
    event_.signal();
}

bool VmStop::pause() {
    std::unique_lock lock(mutex_);
    if (paused_) {
        return false;
    }
    paused_ = true;
    kick_all();
    parking_.wait(lock, [this] { return parked_ == vcpus_.size() || requested_.load(); });
    return true;
}

bool VmStop::resume() {
    {
        std::lock_guard lock(mutex_);
        if (!paused_) {
            return false;
        }
        paused_ = false;
    }
    parking_.notify_all();
    return true;
}

bool VmStop::paused() const {
    std::lock_guard lock(mutex_);
    return paused_;
}

void VmStop::park_while_paused(kvm_run& run) {
    std::unique_lock lock(mutex_);
    if (paused_ && !requested_.load()) {
        ++parked_;
        parking_.notify_all();
        parking_.wait(lock, [this] { return !paused_ || requested_.load(); });
        --parked_;
    }
    // A pause's kick set immediate_exit; a stop's must stay set. Under mutex_, which
    // every kick holds, so a kick cannot fall between the test and the clear.
    if (!requested_.load()) {
        run.immediate_exit = 0;
    }
}

int VmStop::result() const {
    if (error_) {
        std::rethrow_exception(error_);
    }
    return status_;
}

}  // namespace berth::machine
