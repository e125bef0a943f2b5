#pragma once
// The compiled seccomp program of every VMM thread kind (vmm/sandbox/lists/KIND.seccomp,
// each with lists/common.seccomp), generated at build time by berth-vmm-seccomp-gen.

#include <linux/filter.h>

#include <span>
#include <string_view>

namespace berth::sandbox {

struct ThreadFilter {
    std::string_view kind;  // the list's name: "vcpu", "virtio-blk", "api" ...
    std::span<const sock_filter> program;
};

std::span<const ThreadFilter> thread_filters();

// The x86-64 system call's name ("" when unknown); async-signal-safe.
std::string_view syscall_name(long number);

}  // namespace berth::sandbox
