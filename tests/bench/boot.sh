#!/usr/bin/env bash
# Linux boot: berth against QEMU `-M microvm` (both on KVM) with the same kernel, initrd,
# command line, memory (256 MiB) and vCPUs (1); runs interleaved so both see the same
# machine. The guest (images/build-initramfs.sh) prints "berth-guest: userspace ready",
# runs `true` through berth_run= and ends through the debug-exit port 0x501.
# Prints, per VMM: KVM's own exit counts (debugfs, sampled every 10 ms while the VMM
# lives: at the userspace marker and the last sample before the VM goes away), median
# wall time to the marker and to exit, and memory overhead (RSS outside the largest
# anonymous mapping, i.e. guest RAM, at the marker). Then the ratios berth/QEMU.
# Without a usable /dev/kvm for Linux guests (no KVM, or a PVM host) it re-runs itself
# inside tools/kvm-rig, once for all runs. Not a pass/fail test: it prints figures.
# Usage: tests/bench/boot.sh [BUILD_DIR]   env: RUNS (default 10), KERNEL, INITRD,
#        BERTH_BENCH_BERTH (another berth binary than BUILD_DIR/berth),
#        BERTH_BENCH_BASELINE (an older berth binary, run interleaved as "baseline", so
#        that a change's cost is measured in the same run: ratios berth/baseline),
#        BERTH_BENCH_SMAPS_DIR (keep each VMM's /proc/PID/smaps at the marker there),
#        NIC=user (both guests get one NIC, berth `--net user` and QEMU `-netdev user`
#        on a virtio-net-pci function of microvm's PCIe host, and /init brings it up by
#        DHCP before berth_run: the issue-14 boot with one NIC; default NIC=none)
set -euo pipefail
default_runs=10
# Only BERTH_* variables reach the rig.
export BERTH_BENCH_NIC=${NIC:-${BERTH_BENCH_NIC:-none}}
if [[ $BERTH_BENCH_NIC != none && $BERTH_BENCH_NIC != user ]]; then
    echo "boot.sh: NIC=$BERTH_BENCH_NIC: unknown; use NIC=none (the default) or NIC=user" >&2
    exit 2
fi
# shellcheck source=vm-bench-setup.sh
source "$(dirname "$0")/vm-bench-setup.sh" "$@"

# Local copies: reading the inputs over the rig's 9p share would be timed otherwise.
work=$(mktemp -d /tmp/boot-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp "${BERTH_BENCH_BERTH:-$build/berth}" "$work/berth"
if [[ -n ${BERTH_BENCH_BASELINE:-} ]]; then
    cp "$BERTH_BENCH_BASELINE" "$work/baseline"
fi
cp "$kernel" "$initrd" "$work/"
k="$work/$(basename "$kernel")"
i="$work/$(basename "$initrd")"

# berth's fixed base command line (from its --help), given to QEMU too, so that both
# guests see the same one.
base=$("$work/berth" vm run --help | tr -s ' \n' ' ' | sed -n 's/.*appended to "\([^"]*\)".*/\1/p')
[[ -n $base ]] || { echo "boot.sh: cannot find berth's base command line in its --help" >&2; exit 1; }

exec python3 - "$work" "$k" "$i" "$runs" "$base" <<'PY'
import glob, os, statistics, subprocess, sys, time, fcntl

work, kernel, initrd, runs, base = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
marker = b"berth-guest: userspace ready"
memory, cpus = "256M", 1
extra = "quiet berth_run=true"
vmms = {
    "berth": [f"{work}/berth", "vm", "run", "--kernel", kernel, "--initrd", initrd,
              "--memory", memory, "--cpus", str(cpus), "--cmdline", extra],
    "qemu": ["qemu-system-x86_64",
             "-M", "microvm,x-option-roms=off,isa-serial=on,rtc=off",
             "-accel", "kvm", "-cpu", "host", "-m", "256", "-smp", str(cpus),
             "-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio",
             "-device", "isa-debug-exit,iobase=0x501,iosize=1",
             "-kernel", kernel, "-initrd", initrd, "-append", f"{base} {extra}"],
}
nic = os.environ.get("BERTH_BENCH_NIC", "none")
if nic == "user":
    # microvm's virtio-net-device (virtio-mmio) would not do: Debian's kernel has
    # virtio_mmio as a module, and /init loads virtio_net only for a PCI function
    # (device 0x1041), as berth's NIC is. With pcie=on microvm gets a PCIe host (ECAM,
    # described by ACPI) and the guest does the same work on both: probe, DHCP.
    vmms["berth"] += ["--net", "user"]
    qemu = vmms["qemu"]
    qemu[qemu.index("-M") + 1] += ",pcie=on"
    qemu += ["-netdev", "user,id=n0",
             "-device", "virtio-net-pci,netdev=n0,disable-legacy=on"]
if os.path.exists(f"{work}/baseline"):
    vmms["baseline"] = [f"{work}/baseline"] + vmms["berth"][1:]
debugfs = "/sys/kernel/debug/kvm"
smaps_dir = os.environ.get("BERTH_BENCH_SMAPS_DIR")

def read_stats(pid):
    dirs = glob.glob(f"{debugfs}/{pid}-*")
    if not dirs:
        return None
    out = {}
    try:
        for name in ("exits", "io_exits", "mmio_exits"):
            with open(f"{dirs[0]}/{name}") as f:
                out[name] = int(f.read())
    except OSError:
        return None
    return out

def read_all_stats(pid):
    # Every per-VM counter (halt_exits, pf_fixed, ...), to explain where exits come from.
    dirs = glob.glob(f"{debugfs}/{pid}-*")
    out = {}
    for path in glob.glob(f"{dirs[0]}/*") if dirs else []:
        try:
            with open(path) as f:
                out[os.path.basename(path)] = int(f.read())
        except (OSError, ValueError):
            pass
    return out

def overhead_kib(pid):
    # Sum of Rss over all mappings but the largest anonymous one (guest RAM).
    total, largest_rss, largest_size = 0, 0, -1
    size = rss = 0
    anonymous = False
    name = ""
    by_name = {}
    with open(f"/proc/{pid}/smaps") as f:
        text = f.read()
    if smaps_dir:  # BERTH_BENCH_SMAPS_DIR: keep each snapshot, to see what the overhead is
        with open(f"{smaps_dir}/smaps-{pid}", "w") as out:
            out.write(text)
    for line in text.splitlines():
        fields = line.split()
        if "-" in fields[0] and not fields[0].endswith(":"):
            anonymous = len(fields) < 6 or fields[5].startswith("[anon")
            name = fields[5] if len(fields) >= 6 else "[anon]"
            start, end = (int(x, 16) for x in fields[0].split("-"))
            size = end - start
        elif fields[0] == "Rss:":
            rss = int(fields[1])
            total += rss
            by_name[name] = by_name.get(name, 0) + rss
            if anonymous and size > largest_size:
                largest_size, largest_rss = size, rss
    by_name["[anon]"] = by_name.get("[anon]", 0) - largest_rss  # without guest RAM
    top = sorted(by_name.items(), key=lambda kv: -kv[1])[:6]
    return total - largest_rss, {"ram_bytes": largest_size, "top_kib": top}

def run_once(name):
    start = time.monotonic()
    proc = subprocess.Popen(vmms[name], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    fd = proc.stdout.fileno()
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
    output = b""
    result = {"marker": None}
    last = None
    full = {}
    polls = 0
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            chunk = None
        if chunk:
            output += chunk
        stats = read_stats(proc.pid)
        if stats:
            last = stats
            polls += 1
            if polls % 20 == 0:
                full = read_all_stats(proc.pid) or full
        if result["marker"] is None and marker in output:
            result["marker"] = time.monotonic() - start
            result["marker_stats"] = stats or last
            try:
                result["overhead"], result["ram_map"] = overhead_kib(proc.pid)
            except OSError:
                result["overhead"] = None
        if proc.poll() is not None:
            break
        if chunk is None:
            time.sleep(0.01)
    result["exit"] = time.monotonic() - start
    output += proc.stdout.read() or b""
    result["status"] = proc.returncode
    result["stats"] = last
    result["full"] = full
    result["ok"] = result["marker"] is not None and b"berth-guest: exit 0" in output
    if not result["ok"]:
        sys.stderr.write(f"{name}: run failed (status {proc.returncode}); output:\n")
        sys.stderr.write(output.decode(errors="replace")[-3000:] + "\n")
    return result

results = {name: [] for name in vmms}
for name in vmms:  # warm-up (page cache, QEMU's binary and ROMs over 9p), not counted
    run_once(name)
for r in range(runs):
    for name in vmms:
        res = run_once(name)
        if res["ok"]:
            results[name].append(res)
        if r == 0:
            print(f"# {name} RSS at the marker by mapping: {res.get('ram_map')}", flush=True)
        print(f"# run {r + 1} {name}: marker {res['marker']} exit {res['exit']:.3f} s "
              f"status {res['status']} exits {res['stats']} overhead {res.get('overhead')} KiB",
              flush=True)

def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")

summary = {}
print(f"\nboot to exit, {runs} runs each, 256 MiB, {cpus} vCPU, NIC={nic}, kernel "
      f"{os.path.basename(kernel)}, command line: {base} {extra}")
print(f"{'':8} {'exits':>9} {'io':>9} {'mmio':>7} {'exits@mk':>9} {'t marker':>9} "
      f"{'t exit':>8} {'overhead':>9}")
for name, rs in results.items():
    s = {
        "exits": med([r["stats"]["exits"] for r in rs if r["stats"]]),
        "io": med([r["stats"]["io_exits"] for r in rs if r["stats"]]),
        "mmio": med([r["stats"]["mmio_exits"] for r in rs if r["stats"]]),
        "exits_marker": med([r["marker_stats"]["exits"] for r in rs if r.get("marker_stats")]),
        "marker": med([r["marker"] for r in rs]),
        "exit": med([r["exit"] for r in rs]),
        "overhead": med([r["overhead"] for r in rs]) / 1024,
    }
    summary[name] = s
    print(f"{name:8} {s['exits']:9.0f} {s['io']:9.0f} {s['mmio']:7.0f} {s['exits_marker']:9.0f} "
          f"{s['marker']:8.3f}s {s['exit']:7.3f}s {s['overhead']:6.2f}MiB  ({len(rs)} good runs)")
# Where the exits differ: KVM's other per-VM counters (last full sample, ~0.2 s before exit).
keys = sorted({k for rs in results.values() for r in rs for k in r["full"]})
rows = []
for key in keys:
    values = {name: med([r["full"].get(key) for r in rs]) for name, rs in results.items()}
    if any(v == v and v > 0 for v in values.values()):
        rows.append((max(v if v == v else 0 for v in values.values()), key, values))
print("KVM per-VM counters (medians, largest first):")
for _, key, values in sorted(rows, reverse=True)[:16]:
    print(f"  {key:28} " + " ".join(f"{name} {v:10.0f}" for name, v in values.items()))
b, q = summary["berth"], summary["qemu"]
# Issue 3's target for a guest without NIC; issue 14's for one with a NIC.
exits_target = "0.15" if nic == "user" else "0.5"
print(("ratio berth/qemu: exits {:.2f} (target <= " + exits_target + "), io exits {:.2f}, "
       "time to marker {:.2f}, time to exit {:.2f} (target <= 0.9), overhead {:.2f} MiB vs "
       "{:.2f} MiB (target <= 3 MiB)")
      .format(b["exits"] / q["exits"], b["io"] / q["io"] if q["io"] else float("nan"),
              b["marker"] / q["marker"], b["exit"] / q["exit"], b["overhead"], q["overhead"]))
if "baseline" in summary:
    a = summary["baseline"]
    print("ratio berth/baseline: exits {:.3f}, time to marker {:.2f}, time to exit {:.2f}, "
          "overhead {:.3f} ({:.2f} MiB vs {:.2f} MiB)"
          .format(b["exits"] / a["exits"], b["marker"] / a["marker"], b["exit"] / a["exit"],
                  b["overhead"] / a["overhead"], b["overhead"], a["overhead"]))
PY
