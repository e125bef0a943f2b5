#!/usr/bin/env bash
# VM network throughput and latency: berth against QEMU (both on KVM) with the same
# backend, kernel, initramfs, memory (256 MiB) and vCPUs (1), interleaved so both see the
# same machine. Backends: user mode (berth --net user vs QEMU -netdev user) and a tap on
# the bridge berth0 (berth --net bridge vs QEMU -netdev tap on a tap in berth0); the same
# tap with the kernel's vhost-net (berth --net bridge,vhost=on vs QEMU -netdev
# tap,vhost=on); all NICs are virtio-net over PCI (QEMU: virtio-net-pci, modern only).
# In each boot the guest (berth's initramfs plus iperf3 and its libraries) runs
#   iperf3 -c HOST          TCP guest -> host, Mbit/s as the host's server received it
#   iperf3 -c HOST -R       TCP host -> guest, Mbit/s as the guest received it
#   ping -c 10 HOST         round-trip time, average in ms
# against an iperf3 server and the host's end of the network (10.0.2.2 is the host's
# 127.0.0.1 in user mode, 10.88.0.1 on berth0). Prints medians and the ratios berth/QEMU
# (throughput: higher is better for berth; RTT: lower is). Not a pass/fail test.
# Without a usable /dev/kvm for Linux guests (no KVM, or a PVM host) it re-runs itself
# inside tools/kvm-rig, once for all runs; there every figure is 50-100x below hardware's.
# Usage: tests/bench/net.sh [BUILD_DIR]   env: RUNS (default 5), KERNEL, INITRD,
#        SECONDS_PER_TEST (iperf3 -t, default 3), BACKENDS (default "user tap vhost"),
#        BERTH_BENCH_BERTH (another berth binary than BUILD_DIR/berth),
#        BERTH_BENCH_BASELINE (a second berth binary, say an earlier commit's, run as a
#        third VMM "base" in the same rounds: a change measured against itself, on the
#        same machine state, where single runs scatter more than most changes move)
set -euo pipefail
default_runs=5
export BERTH_BENCH_SECONDS=${SECONDS_PER_TEST:-${BERTH_BENCH_SECONDS:-3}}
export BERTH_BENCH_BACKENDS=${BACKENDS:-${BERTH_BENCH_BACKENDS:-user tap vhost}}
# shellcheck source=vm-bench-setup.sh
source "$(dirname "$0")/vm-bench-setup.sh" "$@"
# shellcheck source=net-setup.sh
source "$(dirname "$0")/net-setup.sh"

PYTHONPATH="$root/tests/bench" python3 - "$runs" <<'PY'
import os, re, statistics, subprocess, sys

from net_vms import HOSTS, KERNEL, command, vmms

runs = int(sys.argv[1])
seconds = int(os.environ["BERTH_BENCH_SECONDS"])
backends = os.environ["BERTH_BENCH_BACKENDS"].split()

def guest_script(host):
    return (f"echo TX $(iperf3 -c {host} -t {seconds} -f m 2>&1 | grep receiver); "
            f"echo RX $(iperf3 -c {host} -t {seconds} -f m -R 2>&1 | grep receiver); "
            f"echo RTT $(ping -c 10 {host} 2>&1 | grep round-trip); exit 0")

def number(pattern, text):
    m = re.search(pattern, text)
    return float(m.group(1)) if m else None

def run_once(vmm, backend):
    # A boot with its tests takes about a minute in the rig: a VM still running after
    # four is stuck, and is reported and killed here, where it would otherwise look like
    # a hung rig to the rig's watchdog (silent console).
    try:
        proc = subprocess.run(command(vmm, backend, guest_script(HOSTS[backend])),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=240)
        out, status = proc.stdout.decode(errors="replace"), proc.returncode
    except subprocess.TimeoutExpired as stuck:
        out, status = (stuck.output or b"").decode(errors="replace"), "killed after 240 s"
    result = {
        "tx": number(r"TX .*?([\d.]+) Mbits/sec", out),
        "rx": number(r"RX .*?([\d.]+) Mbits/sec", out),
        "rtt": number(r"RTT .*= [\d.]+/([\d.]+)/", out),
    }
    if None in result.values():
        sys.stderr.write(f"{vmm} {backend}: a measurement is missing (status "
                         f"{status}); output:\n{out[-3000:]}\n")
    return result

results = {(v, b): [] for b in backends for v in vmms()}
for r in range(runs):
    for key in results:
        res = run_once(*key)
        results[key].append(res)
        print(f"# run {r + 1} {key[0]} {key[1]}: guest->host {res['tx']} Mbit/s, "
              f"host->guest {res['rx']} Mbit/s, rtt {res['rtt']} ms", flush=True)

def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")

print(f"\nTCP (iperf3 -t {seconds}) and ping, medians of {runs} runs, 256 MiB, 1 vCPU, "
      f"kernel {os.path.basename(KERNEL)}")
print(f"{'backend':8} {'vmm':6} {'guest->host':>14} {'host->guest':>14} {'rtt':>10}")
summary = {}
for key, rs in results.items():
    s = {m: med([r[m] for r in rs]) for m in ("tx", "rx", "rtt")}
    summary[key] = s
    print(f"{key[1]:8} {key[0]:6} {s['tx']:9.1f} Mb/s {s['rx']:9.1f} Mb/s {s['rtt']:7.3f} ms")
for b in backends:
    be, qe = summary[("berth", b)], summary[("qemu", b)]
    target = 1.0 if b == "vhost" else 1.2
    print(f"ratio berth/qemu {b}: guest->host {be['tx'] / qe['tx']:.2f}, host->guest "
          f"{be['rx'] / qe['rx']:.2f} (target >= {target}), rtt {be['rtt'] / qe['rtt']:.2f} "
          f"(target <= 0.8)")
    if "base" in vmms():
        ba = summary[("base", b)]
        print(f"ratio berth/base {b}: guest->host {be['tx'] / ba['tx']:.2f}, host->guest "
              f"{be['rx'] / ba['rx']:.2f}, rtt {be['rtt'] / ba['rtt']:.2f}")
PY
