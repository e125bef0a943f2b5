#pragma once
// The VMM's own sandbox: every thread of a VM run confines itself with the seccomp
// allow-list of its kind (vmm/sandbox/lists/KIND.seccomp; docs/sandbox.md).
//
// Filters are per thread: installed without TSYNC, each one binds its thread and the
// threads it creates afterwards. So every thread of a kind is started by a thread
// that has no filter yet (the main thread during setup), or by a thread of the same
// kind (the API's HTTP workers from the API thread; they inherit the very same list).
// The start hook refuses any other order, since the new thread would run under the
// intersection of two lists.
//
// A forbidden call does not end berth silently: the filter answers SECCOMP_RET_TRAP and
// the SIGSYS handler writes one line naming the thread kind and the call, then exits
// with status 159 (128 + SIGSYS).

#include <string_view>

namespace berth::sandbox {

enum class Seccomp { off, on };

inline constexpr int forbidden_syscall_status = 128 + 31;  // 128 + SIGSYS

// Installs the filter of `kind` on the calling thread only; throws berth::Error when the
// kind has no list or the kernel refuses it.
void install_thread_filter(std::string_view kind);

// Sets the process's SIGSYS handler that reports a forbidden call (see above).
void install_forbidden_syscall_reporter();

// While one with Seccomp::on lives, each berth::Thread started with a kind installs
// that kind's filter before its body runs. Make it before the VM's threads start.
class VmmSandbox {
public:
    explicit VmmSandbox(Seccomp mode);
    ~VmmSandbox();
    VmmSandbox(const VmmSandbox&) = delete;
    VmmSandbox& operator=(const VmmSandbox&) = delete;

    bool on() const { return on_; }
    // Confines the calling thread (the main thread, its setup done) as `kind`; a no-op
    // when off.
    void confine_this_thread(std::string_view kind) const;

private:
    bool on_;
};

}  // namespace berth::sandbox
