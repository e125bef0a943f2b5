#!/usr/bin/env bash
# The VM-image benchmark of issue 15, berth against QEMU (both on KVM, runs interleaved,
# the same kernel, initrd, command line, memory (256 MiB) and vCPUs (1)):
#  1. disk: a 256 MiB qcow2 image (random bytes, every cluster allocated, 64 KiB
#     clusters, made by qemu-img convert) attached read-only as a virtio-blk disk
#     (QEMU: -M q35, virtio-blk-pci, cache=writeback, its default). In one boot the
#     guest reads the whole disk with busybox dd iflag=direct bs=1M (timed from
#     /proc/uptime), then 4 KiB O_DIRECT reads at 4096 pseudo-random offsets, the same
#     ones in every run (tests/bench/random-read.c, a static binary appended to berth's
#     initramfs as a second cpio archive: busybox has no such reader). Prints MB/s and
#     reads per second, medians and the ratios berth/QEMU.
#  2. boot: the partitioned qcow2 busybox disk (images/build-gpt-disk.sh: GPT, ext4
#     root in partition 2, grub.cfg) booted to its marker "berth-guest: disk root
#     ready" and on to the exit of berth_run=true. berth: `vm run --image` (it reads the
#     kernel, initrd and command line from the image itself, which is counted); QEMU
#     (-M q35: microvm's virtio-mmio driver is a module the initramfs does not load)
#     gets the kernel and initrd taken out of the image beforehand and the same command
#     line: berth's base (its --help), the grub entry's options without console=, and
#     the probe. Each run boots a fresh copy of the image (the guest mounts it rw).
#     Prints wall time to the marker and to exit, and KVM's exit counts (debugfs,
#     sampled every 10 ms while the VMM lives, as tests/bench/boot.sh does).
# Without a usable /dev/kvm for Linux guests it re-runs itself inside tools/kvm-rig.
# Not a pass/fail test. Usage: tests/bench/image.sh [BUILD_DIR]
#   env: RUNS (default 5), KERNEL, INITRD (the disk part's guest), GPT_DISK (default
#   BUILD_DIR/images/busybox-gpt.qcow2), RANDOM_READS (default 4096),
#   BERTH_BENCH_BASELINE (an older berth binary, run interleaved as "baseline": what a
#   change gained, measured in the same rig boot)
set -euo pipefail
default_runs=5
gpt_disk=${GPT_DISK:-${BERTH_BENCH_GPT_DISK:-}}
random_reads=${RANDOM_READS:-${BERTH_BENCH_RANDOM_READS:-4096}}
export BERTH_BENCH_GPT_DISK=$gpt_disk BERTH_BENCH_RANDOM_READS=$random_reads
# shellcheck source=vm-bench-setup.sh
source "$(dirname "$0")/vm-bench-setup.sh" "$@"
gpt_disk=${gpt_disk:-$build/images/busybox-gpt.qcow2}
[[ -r $gpt_disk ]] || { echo "image.sh: no GPT disk $gpt_disk (ninja -C $build images/busybox-gpt.qcow2)" >&2; exit 1; }

# Local copies: reading the inputs over the rig's 9p share would be timed otherwise.
work=$(mktemp -d /tmp/image-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp "$build/berth" "$kernel" "$gpt_disk" "$work/"
if [[ -n ${BERTH_BENCH_BASELINE:-} ]]; then
    cp "$BERTH_BENCH_BASELINE" "$work/baseline"
fi
k="$work/$(basename "$kernel")"
gpt="$work/$(basename "$gpt_disk")"

# The disk guest: berth's initramfs plus /bin/random-read.
cc -static -O2 -o "$work/random-read" "$root/tests/bench/random-read.c"
mkdir -p "$work/extra/bin"
cp "$work/random-read" "$work/extra/bin/"
cp "$initrd" "$work/initrd"
(cd "$work/extra" && find . -mindepth 1 | cpio --quiet -o -H newc -R 0:0 | gzip -1) >>"$work/initrd"
head -c $((256 << 20)) /dev/urandom >"$work/disk.raw"
qemu-img convert -f raw -O qcow2 "$work/disk.raw" "$work/disk.qcow2"
rm "$work/disk.raw"

# The boot guest's kernel and initrd, out of the image's root partition (number 2).
qemu-img convert -f qcow2 -O raw "$gpt" "$work/gpt.raw"
start=$(sfdisk --json "$work/gpt.raw" | python3 -c 'import json, sys
print(json.load(sys.stdin)["partitiontable"]["partitions"][1]["start"])')
dd if="$work/gpt.raw" of="$work/root.ext4" bs=512 skip="$start" status=none
rm "$work/gpt.raw"
boot_kernel=$(debugfs -R "ls -p /boot" "$work/root.ext4" 2>/dev/null | awk -F/ '$6 ~ /^vmlinuz-/ { print $6 }' | head -n 1)
boot_initrd=initrd.img-${boot_kernel#vmlinuz-}
debugfs -R "dump /boot/$boot_kernel $work/boot-kernel" "$work/root.ext4" 2>/dev/null
debugfs -R "dump /boot/$boot_initrd $work/boot-initrd" "$work/root.ext4" 2>/dev/null
entry=$(debugfs -R "cat /boot/grub/grub.cfg" "$work/root.ext4" 2>/dev/null |
        awk '$1 == "linux" { $1 = ""; $2 = ""; print; exit }' | tr -s ' ' | sed 's/^ //')
entry=$(tr ' ' '\n' <<<"$entry" | grep -v '^console=' | tr '\n' ' ' | sed 's/ $//')
rm "$work/root.ext4"
[[ -s $work/boot-kernel && -s $work/boot-initrd && $entry == *root=* ]] ||
    { echo "image.sh: cannot take the kernel, initrd and grub entry out of $gpt_disk" >&2; exit 1; }

base=$("$work/berth" vm run --help | tr -s ' \n' ' ' | sed -n 's/.*appended to "\([^"]*\)".*/\1/p')
[[ -n $base ]] || { echo "image.sh: cannot find berth's base command line in its --help" >&2; exit 1; }

PYTHONPATH=$(cd "$(dirname "$0")" && pwd) \
    exec python3 - "$work" "$k" "$runs" "$base" "$entry" "$random_reads" "$gpt" <<'PY'
import os, shutil, subprocess, sys

from vm_watch import median, watch

work, kernel, runs, base, entry, reads, gpt_source = sys.argv[1:8]
runs = int(runs)
qemu = ["qemu-system-x86_64", "-M", "q35", "-accel", "kvm", "-cpu", "host", "-m", "256",
        "-smp", "1", "-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio",
        "-device", "isa-debug-exit,iobase=0x501,iosize=1"]

# Part 1: disk reads. (No quotes inside: the command travels in berth_run="...".)
probe = ("read a x </proc/uptime; dd if=/dev/vda of=/dev/null bs=1M iflag=direct; "
         "read b x </proc/uptime; echo dd-seconds $a $b; "
         f"/bin/random-read /dev/vda {reads}")
disk_extra = f'quiet berth_run="{probe}"'
disk = f"{work}/disk.qcow2"
disk_vmms = {
    "berth": [f"{work}/berth", "vm", "run", "--kernel", kernel, "--initrd", f"{work}/initrd",
              "--memory", "256M", "--cpus", "1", "--disk", f"{disk},format=qcow2,ro",
              "--cmdline", disk_extra],
    "qemu": qemu + ["-drive", f"file={disk},if=none,id=disk0,format=qcow2,readonly=on",
                    "-device", "virtio-blk-pci,drive=disk0", "-kernel", kernel,
                    "-initrd", f"{work}/initrd", "-append", f"{base} {disk_extra}"],
}

if os.path.exists(f"{work}/baseline"):
    disk_vmms["baseline"] = [f"{work}/baseline"] + disk_vmms["berth"][1:]

def disk_run(name):
    out = subprocess.run(disk_vmms[name], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT).stdout.decode(errors="replace")
    seq = rnd = None
    for line in out.splitlines():
        f = line.split()
        if len(f) == 3 and f[0] == "dd-seconds":
            seq = float(f[2]) - float(f[1])
        if len(f) == 3 and f[0] == "random-read":
            rnd = float(f[2])
    if seq is None or rnd is None or "berth-guest: exit 0" not in out:
        sys.stderr.write(f"{name}: disk run failed; output:\n{out[-3000:]}\n")
        return None
    return seq, rnd

mb = 256 * 1048576 / 1e6
seq = {n: [] for n in disk_vmms}
rnd = {n: [] for n in disk_vmms}
for r in range(runs):
    for name in disk_vmms:
        res = disk_run(name)
        if res:
            seq[name].append(res[0])
            rnd[name].append(res[1])
        print(f"# disk run {r + 1} {name}: " + (f"sequential {res[0]:.2f} s, {reads} random "
              f"reads {res[1]:.3f} s" if res else "failed"), flush=True)

# Part 2: boot of the partitioned qcow2 image.
marker = b"berth-guest: disk root ready"
boot_extra = "quiet berth_run=true"
copy = f"{work}/boot-copy.qcow2"
boot_vmms = {
    "berth": [f"{work}/berth", "vm", "run", "--image", f"{copy},format=qcow2",
              "--memory", "256M", "--cpus", "1", "--cmdline", boot_extra],
    "qemu": qemu + ["-drive", f"file={copy},if=none,id=disk0,format=qcow2",
                    "-device", "virtio-blk-pci,drive=disk0", "-kernel", f"{work}/boot-kernel",
                    "-initrd", f"{work}/boot-initrd",
                    "-append", f"{base} {entry} {boot_extra}"],
}
if "baseline" in disk_vmms:
    boot_vmms["baseline"] = [f"{work}/baseline"] + boot_vmms["berth"][1:]
print(f"# boot: QEMU's command line: {base} {entry} {boot_extra}", flush=True)

def boot_run(name):
    shutil.copyfile(gpt_source, copy)
    run = watch(boot_vmms[name], marker)
    if (run["marker"] is None or b"berth-guest: exit 0" not in run["output"]
            or run["last"] is None):
        sys.stderr.write(f"{name}: boot run failed (status {run['status']}); output:\n"
                         f"{run['output'].decode(errors='replace')[-3000:]}\n")
        return None
    return (run["marker"], run["exit"], (run["at_marker"] or {}).get("exits"),
            run["last"]["exits"])

boots = {n: [] for n in boot_vmms}
for name in boot_vmms:  # warm-up (page cache, QEMU's ROMs), not counted
    boot_run(name)
for r in range(runs):
    for name in boot_vmms:
        res = boot_run(name)
        if res:
            boots[name].append(res)
        print(f"# boot run {r + 1} {name}: " + (f"marker {res[0]:.3f} s, exit {res[1]:.3f} s, "
              f"exits {res[2]} at the marker, {res[3]} in all" if res else "failed"), flush=True)

print(f"\nmedians of {runs} runs each (256 MiB guest, 1 vCPU, kernel {os.path.basename(kernel)}):")
print(f"{'':6} {'seq MB/s':>9} {'rand IOPS':>10} {'marker s':>9} {'exit s':>8} "
      f"{'exits@mk':>9} {'exits':>8}")
s = {}
for name in disk_vmms:
    b = boots[name]
    s[name] = {"seq": mb / median(seq[name]), "iops": int(reads) / median(rnd[name]),
               "marker": median([x[0] for x in b]), "exit": median([x[1] for x in b]),
               "exits_marker": median([x[2] for x in b if x[2] is not None]),
               "exits": median([x[3] for x in b])}
    v = s[name]
    print(f"{name:6} {v['seq']:9.1f} {v['iops']:10.0f} {v['marker']:9.3f} {v['exit']:8.3f} "
          f"{v['exits_marker']:9.0f} {v['exits']:8.0f}   ({len(seq[name])} disk, {len(b)} boot runs)")
b, q = s["berth"], s["qemu"]
print(f"berth/qemu: sequential read {b['seq'] / q['seq']:.2f}x (target >= 1.2x), "
      f"random 4 KiB reads {b['iops'] / q['iops']:.2f}x (target >= 1.0x)")
print(f"berth/qemu: boot wall to marker {b['marker'] / q['marker']:.2f}x, to exit "
      f"{b['exit'] / q['exit']:.2f}x (target <= 0.9x); exits {b['exits'] / q['exits']:.2f}x, "
      f"at the marker {b['exits_marker'] / q['exits_marker']:.2f}x (target <= 0.5x)")
if "baseline" in s:
    a = s["baseline"]
    print(f"berth/baseline: sequential read {b['seq'] / a['seq']:.2f}x, random reads "
          f"{b['iops'] / a['iops']:.2f}x, boot to exit {b['exit'] / a['exit']:.2f}x")
PY
