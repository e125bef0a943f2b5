#pragma once
// `berth bench startup`: the same workload (a shell command that prints a marker and
// exits) started N times as a berth VM and as a berth container from the same root
// filesystem, and with the peers that are installed (QEMU microvm, runc, crun,
// bubblewrap), timed by phase. When this host's KVM cannot boot Linux the VM half runs
// inside tools/kvm-rig (this command again, with --vm-only) and is marked emulated.
// See docs/bench-startup.md for what each phase is.

#include <filesystem>
#include <string>

namespace berth::bench {

enum class Peers { auto_detect, none };
enum class Half { both, vm_only, container_only };

struct StartupOptions {
    std::filesystem::path kernel;  // empty: the newest /boot/vmlinuz-*
    std::filesystem::path image;   // an initramfs for both modes; empty: berth's default
    std::filesystem::path initrd;  // with rootfs, instead of image
    std::filesystem::path rootfs;
    int runs = 10;
    std::filesystem::path json_file;  // empty: none
    std::filesystem::path svg_file;   // empty: none
    Peers peers = Peers::auto_detect;
    Half half = Half::both;
    std::filesystem::path rig;  // tools/kvm-rig; empty: BERTH_RIG, else next to the build
    // Measure nothing: print the table and write the SVG of a saved --json file.
    std::filesystem::path render_from;
};

// Returns berth's exit status; bad input throws before anything runs.
int run_startup_bench(const StartupOptions& options);

}  // namespace berth::bench
