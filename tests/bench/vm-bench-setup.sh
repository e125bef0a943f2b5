# Sourced by the VM benchmarks (boot.sh, disk-read.sh) as their first step:
#   source "$(dirname "$0")/vm-bench-setup.sh" "$@"
# Sets root, build, runs (RUNS, default $default_runs), kernel (KERNEL, default the newest
# /boot/vmlinuz-*) and initrd (INITRD, default berth's initramfs), and, when this host
# cannot boot Linux guests on KVM (no /dev/kvm, or a PVM host), re-runs the calling
# script inside tools/kvm-rig once for all its runs. Only BERTH_* variables reach the
# rig, hence the BERTH_BENCH_* copies.
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
runs=${RUNS:-${BERTH_BENCH_RUNS:-${default_runs:-10}}}
kernel=${KERNEL:-${BERTH_BENCH_KERNEL:-$(ls /boot/vmlinuz-* | sort -V | tail -1)}}
initrd=${INITRD:-${BERTH_BENCH_INITRD:-$build/images/initramfs.cpio.gz}}

vm_bench_needs_rig() {
    [[ -n ${BERTH_IN_RIG:-} ]] && return 1
    [[ ! -w /dev/kvm ]] && return 0
    [[ -e /sys/module/kvm_pvm ]]
}
if vm_bench_needs_rig; then
    export BERTH_BENCH_RUNS=$runs BERTH_BENCH_KERNEL=$kernel BERTH_BENCH_INITRD=$initrd
    # Minutes per run in the rig: more than its default 30-minute limit.
    exec "$root/tools/kvm-rig" --timeout 0 -- "$root/tests/bench/$(basename "$0")" "$build"
fi
