#include "vmm/common/fatal_signal.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <mutex>
#include <string>

#include "vmm/common/error.hpp"

namespace berth {

namespace {

static_assert(std::atomic<SignalFilter>::is_always_lock_free);
static_assert(std::atomic<LastWordsHook::Function>::is_always_lock_free);

struct SignalSlot {
    // Read by dispatch, so set before it is installed or atomically after.
    std::atomic<SignalFilter> filter{nullptr};
    // The action dispatch replaced. Written once, under install_mutex, before dispatch
    // is installed; after that only read, by dispatch.
    struct sigaction found {};
    bool installed = false;  // under install_mutex
};

// Indexed like fatal_signals.
std::array<SignalSlot, fatal_signals.size()> slots;
std::array<std::atomic<LastWordsHook::Function>, 4> hooks{};
std::mutex install_mutex;

// Set on a thread once it has run the hooks: a fault inside a hook (or anything after
// them) must not run them again.
thread_local volatile std::sig_atomic_t in_last_words = 0;

SignalSlot* slot_of(int signal_number) {
    const auto* at = std::find(fatal_signals.begin(), fatal_signals.end(), signal_number);
    return at == fatal_signals.end() ? nullptr
                                     : &slots[static_cast<std::size_t>(at - fatal_signals.begin())];
}

// si_code > 0: raised by the kernel for something this thread did (a fault), not sent
// with kill or raise. Returning from the handler runs the instruction again.
bool is_fault(const siginfo_t* info) {
    return info != nullptr && info->si_code > 0;
}

// Step 3: what would have happened without berth's handler.
void pass_on(int signal_number, siginfo_t* info, void* context, const struct sigaction& found) {
    if ((found.sa_flags & SA_SIGINFO) != 0) {
        found.sa_sigaction(signal_number, info, context);
        return;
    }
    if (found.sa_handler != SIG_DFL && found.sa_handler != SIG_IGN) {
        found.sa_handler(signal_number);
        return;
    }
    // SIG_DFL, or SIG_IGN for a fault (which the kernel does not let a process ignore:
    // it would run the instruction forever). The default action ends the process.
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    sigemptyset(&default_action.sa_mask);
    ::sigaction(signal_number, &default_action, nullptr);
    if (!is_fault(info)) {
        ::raise(signal_number);  // not blocked (SA_NODEFER): delivered right away
    }
    // A fault: returning runs the faulting instruction again, which faults again and
    // now meets the default action with its own siginfo (a core dump shows the real
    // address, not a raise).
}

void dispatch(int signal_number, siginfo_t* info, void* context) {
    SignalSlot* slot = slot_of(signal_number);
    if (slot == nullptr) {
        return;  // never installed for other signals
    }
    if (const SignalFilter filter = slot->filter.load(std::memory_order_acquire);
        filter != nullptr) {
        filter(signal_number, info);  // does not return when the signal was its
    }
    const struct sigaction& found = slot->found;
    if ((found.sa_flags & SA_SIGINFO) == 0 && found.sa_handler == SIG_IGN && !is_fault(info)) {
        return;  // ignored before berth came, so nothing ends
    }
    if (in_last_words == 0) {
        in_last_words = 1;
        for (auto& hook : hooks) {
            if (const LastWordsHook::Function function = hook.load(std::memory_order_acquire);
                function != nullptr) {
                function();
            }
        }
    }
    pass_on(signal_number, info, context, found);
}

// Installs dispatch for fatal_signals[index] unless it already is. Needs install_mutex.
void install(std::size_t index) {
    SignalSlot& slot = slots[index];
    if (slot.installed) {
        return;
    }
    const int signal_number = fatal_signals[index];
    // Two calls, not one with both arguments: the kernel writes the old action back
    // after installing the new one, and dispatch may already run in between.
    if (::sigaction(signal_number, nullptr, &slot.found) != 0) {
        throw_errno("cannot read the action of signal " + std::to_string(signal_number), errno);
    }
    struct sigaction ours {};
    ours.sa_sigaction = dispatch;
    sigemptyset(&ours.sa_mask);
    // SA_NODEFER: a filter leaves by siglongjmp, which does not restore the signal mask
    // (that would be a system call per guarded copy); with the signal still blocked,
    // the next fault of the same kind would end the process.
    ours.sa_flags = SA_SIGINFO | SA_NODEFER;
    if (::sigaction(signal_number, &ours, nullptr) != 0) {
        throw_errno("cannot install a handler for signal " + std::to_string(signal_number), errno);
    }
    slot.installed = true;
}

}  // namespace

void set_signal_filter(int signal_number, SignalFilter filter) {
    const auto* at = std::find(fatal_signals.begin(), fatal_signals.end(), signal_number);
    if (at == fatal_signals.end()) {
        throw Error("signal " + std::to_string(signal_number) +
                    " is not a fatal signal berth handles");
    }
    const auto index = static_cast<std::size_t>(at - fatal_signals.begin());
    const std::lock_guard lock(install_mutex);
    SignalFilter current = nullptr;
    if (!slots[index].filter.compare_exchange_strong(current, filter, std::memory_order_acq_rel) &&
        current != filter) {
        throw Error("signal " + std::to_string(signal_number) + " already has a filter");
    }
    install(index);
}

LastWordsHook::LastWordsHook(Function hook) : slot_(-1) {
    const std::lock_guard lock(install_mutex);
    for (std::size_t index = 0; index < fatal_signals.size(); ++index) {
        install(index);
    }
    for (std::size_t index = 0; index < hooks.size(); ++index) {
        Function empty = nullptr;
        if (hooks[index].compare_exchange_strong(empty, hook, std::memory_order_acq_rel)) {
            slot_ = static_cast<int>(index);
            return;
        }
    }
    throw Error("no free slot for a fatal-signal hook");
}

LastWordsHook::~LastWordsHook() {
    hooks[static_cast<std::size_t>(slot_)].store(nullptr, std::memory_order_release);
}

}  // namespace berth
