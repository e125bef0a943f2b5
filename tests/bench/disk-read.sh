#!/usr/bin/env bash
# Sequential read of a 256 MiB raw disk through virtio-blk: berth against QEMU
# `-M q35` with virtio-blk-pci (both on KVM, both reading the same file
# through the host page cache: QEMU's default cache=writeback with preadv, berth by
# memcpy from a shared mapping of the image, devices/virtio/blk.cpp), same
# kernel, initramfs, memory and vCPUs, runs interleaved. In the guest busybox dd reads
# the whole disk with O_DIRECT (no guest page cache) in 1 MiB requests and reports its
# time from /proc/uptime around it, so boot time is not counted. (QEMU's microvm with
# pcie=on leaves Debian's kernel without PCI config access; q35 works.) Prints MB/s per run, medians and the ratio.
# Without a usable /dev/kvm for Linux guests it re-runs itself inside tools/kvm-rig.
# Not a pass/fail test. Usage: tests/bench/disk-read.sh [BUILD_DIR]
#   env: RUNS (default 5), KERNEL, INITRD
set -euo pipefail
default_runs=5
# shellcheck source=vm-bench-setup.sh
source "$(dirname "$0")/vm-bench-setup.sh" "$@"

work=$(mktemp -d /tmp/disk-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp "$build/berth" "$kernel" "$initrd" "$work/"
k="$work/$(basename "$kernel")"
i="$work/$(basename "$initrd")"
head -c $((256 << 20)) /dev/urandom >"$work/disk.img"
base=$("$work/berth" vm run --help | tr -s ' \n' ' ' | sed -n 's/.*appended to "\([^"]*\)".*/\1/p')
[[ -n $base ]] || { echo "disk-read.sh: cannot find berth's base command line in its --help" >&2; exit 1; }
# busybox dd does not time itself: /proc/uptime (10 ms ticks) before and after.
# (No quotes: the command travels inside double quotes on the kernel command line.)
run='read a x </proc/uptime; dd if=/dev/vda of=/dev/null bs=1M iflag=direct; read b x </proc/uptime; echo dd-seconds $a $b'
extra="quiet berth_run=\"$run\""

berth_cmd=("$work/berth" vm run --kernel "$k" --initrd "$i" --memory 256M --cpus 1
           --disk "$work/disk.img,ro" --cmdline "$extra")
qemu_cmd=(qemu-system-x86_64 -M q35 -accel kvm -cpu host -m 256 -smp 1 -nographic -no-reboot -nodefaults
          -serial stdio -device isa-debug-exit,iobase=0x501,iosize=1
          -drive "file=$work/disk.img,if=none,id=disk0,format=raw,readonly=on"
          -device virtio-blk-pci,drive=disk0
          -kernel "$k" -initrd "$i" -append "$base $extra")

# seconds RUNNER: prints dd's own seconds for one run, or "fail".
seconds() {
    local out
    out=$("$@" </dev/null 2>&1) || true
    local s
    s=$(printf '%s\n' "$out" | awk '/^dd-seconds / { printf "%.2f", $3 - $2 }' | tail -n 1)
    if [[ -z $s ]] || ! grep -q "berth-guest: exit 0" <<<"$out"; then
        printf '%s\n' "$out" | tail -n 20 | sed 's/^/#   /' >&2
        echo fail
    else
        echo "$s"
    fi
}

declare -a berth_s qemu_s
for ((r = 1; r <= runs; ++r)); do
    b=$(seconds "${berth_cmd[@]}")
    q=$(seconds "${qemu_cmd[@]}")
    echo "# run $r: berth ${b} s, qemu ${q} s for 256 MiB"
    [[ $b != fail ]] && berth_s+=("$b")
    [[ $q != fail ]] && qemu_s+=("$q")
done
python3 - "${berth_s[*]:-}" "${qemu_s[*]:-}" <<'PY'
import statistics, sys
b = [float(x) for x in sys.argv[1].split()]
q = [float(x) for x in sys.argv[2].split()]
if not b or not q:
    sys.exit(f"disk-read.sh: no good runs (berth {len(b)}, qemu {len(q)})")
mb = 256 * 1048576 / 1e6
bm, qm = statistics.median(b), statistics.median(q)
print(f"sequential O_DIRECT read of 256 MiB, 1 MiB requests, median of {len(b)}/{len(q)} runs:")
print(f"  berth {mb / bm:8.1f} MB/s ({bm:.2f} s)   range {mb / max(b):.1f}-{mb / min(b):.1f}")
print(f"  qemu  {mb / qm:8.1f} MB/s ({qm:.2f} s)   range {mb / max(q):.1f}-{mb / min(q):.1f}")
print(f"ratio berth/qemu throughput: {qm / bm:.2f}x (target >= 1.2x)")
PY
