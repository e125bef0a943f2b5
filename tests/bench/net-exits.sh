#!/usr/bin/env bash
# Where a ping's time goes, in berth and in QEMU: an idle guest pings the host (PINGS
# times, 0.3 s apart) on each backend, and KVM's own record of that stretch is read
# back per ping: its counters (debugfs, per VM) and its trace events (tracefs: every
# exit with its reason, the doorbell write, each MSI). Prints per VMM and backend the
# exits per ping by reason, the MSIs per ping, and the median time from the guest's
# doorbell (the request is in the ring) to the last interrupt before the guest next
# halts (the answer is in the ring): the host's side of the round trip, VMM and host
# kernel. Same VMs as net.sh (tests/bench/net_vms.py). A teaching and diagnosis tool,
# not a pass/fail test; in the rig every time is 50-100x hardware's.
# Usage: tests/bench/net-exits.sh [BUILD_DIR]   env: RUNS (default 1), PINGS (default
#        30), BACKENDS (default "tap vhost user"), KERNEL, INITRD, BERTH_BENCH_BERTH,
#        BERTH_BENCH_BASELINE (as net.sh)
set -euo pipefail
default_runs=1
export BERTH_BENCH_PINGS=${PINGS:-${BERTH_BENCH_PINGS:-30}}
export BERTH_BENCH_BACKENDS=${BACKENDS:-${BERTH_BENCH_BACKENDS:-tap vhost user}}
# shellcheck source=vm-bench-setup.sh
source "$(dirname "$0")/vm-bench-setup.sh" "$@"
# shellcheck source=net-setup.sh
source "$(dirname "$0")/net-setup.sh"
tracing=/sys/kernel/tracing
[[ -e $tracing/trace ]] || tracing=/sys/kernel/debug/tracing
[[ -e $tracing/events/kvm/kvm_exit/enable ]] ||
    { echo "net-exits.sh: needs KVM's trace events in $tracing (mount tracefs or debugfs)" >&2; exit 1; }

PYTHONPATH="$root/tests/bench" python3 - "$runs" "$tracing" <<'PY'
import collections, os, re, statistics, sys

from net_vms import HOSTS, command, vmms
from vm_watch import all_kvm_counters, watch

runs, tracing = int(sys.argv[1]), sys.argv[2]
pings = int(os.environ["BERTH_BENCH_PINGS"])
backends = os.environ["BERTH_BENCH_BACKENDS"].split()
EVENTS = ("kvm_exit", "kvm_mmio", "kvm_fast_mmio", "kvm_msi_set_irq")
COUNTERS = ("exits", "halt_exits", "irq_injections", "insn_emulation", "io_exits",
            "mmio_exits")

def guest_script(host):
    # The first pings resolve the host's address; the sleep after the marker lets the
    # host see it before the pings start.
    return (f"sleep 2; ping -c 2 {host} >/dev/null; sleep 1; echo PINGS-START; sleep 1; "
            f"r=$(ping -c {pings} -i 0.3 {host} | grep round-trip); echo PINGS-END; "
            f"echo RTT $r; exit 0")

def write(name, value):
    with open(f"{tracing}/{name}", "w") as f:
        f.write(value)

def trace(on):
    if on:
        write("trace", "")
        write("buffer_size_kb", "8192")
    for event in EVENTS:
        if os.path.exists(f"{tracing}/events/kvm/{event}/enable"):
            write(f"events/kvm/{event}/enable", "1" if on else "0")
    write("tracing_on", "1" if on else "0")

def read_trace():
    """(seconds, event, text) of each event in the trace buffer."""
    events = []
    with open(f"{tracing}/trace") as f:
        for line in f:
            m = re.search(r"\s(\d+\.\d+): (\w+): (.*)", line)
            if m:
                events.append((float(m.group(1)), m.group(2), m.group(3)))
    return events

def doorbell_to_answer(events):
    """Per doorbell: the MSIs before the guest next halts, and seconds to the last."""
    writes = collections.Counter(re.search(r"gpa (0x[0-9a-f]+)", text).group(1)
                                 for _, name, text in events
                                 if (name == "kvm_mmio" and text.startswith("mmio write"))
                                 or name == "kvm_fast_mmio")
    if not writes:
        return [], []
    # The transmit queue's doorbell: the guest's most frequent MMIO write while it pings.
    doorbell = writes.most_common(1)[0][0]
    counts, times = [], []
    for i, (start, name, text) in enumerate(events):
        if name not in ("kvm_mmio", "kvm_fast_mmio") or f"gpa {doorbell}" not in text:
            continue
        msis, last = 0, None
        for t, later, detail in events[i + 1:]:
            if later == "kvm_msi_set_irq":
                msis, last = msis + 1, t
            elif later == "kvm_exit" and re.search(r"reason (hlt|HLT)\b", detail):
                break
        counts.append(msis)
        if last is not None:
            times.append(last - start)
    return counts, times

def profile(vmm, backend):
    marks = {}
    def on_output(pid, output):
        if "start" not in marks and b"PINGS-START" in output:
            trace(True)
            marks["start"] = all_kvm_counters(pid)
        elif "start" in marks and "end" not in marks and b"PINGS-END" in output:
            marks["end"] = all_kvm_counters(pid)
            trace(False)
    run = watch(command(vmm, backend, guest_script(HOSTS[backend])), b"PINGS-START",
                on_output=on_output)
    out = run["output"].decode(errors="replace")
    if "end" not in marks:
        trace(False)
        sys.stderr.write(f"{vmm} {backend}: the pings did not finish (status "
                         f"{run['status']}); output:\n{out[-3000:]}\n")
        return None
    events = read_trace()
    rtt = re.search(r"RTT .*= [\d.]+/([\d.]+)/", out)
    counters = {name: (marks["end"].get(name, 0) - marks["start"].get(name, 0)) / pings
                for name in COUNTERS}
    reasons = collections.Counter(re.search(r"reason (\S+)", text).group(1)
                                  for _, name, text in events if name == "kvm_exit")
    msis, times = doorbell_to_answer(events)
    return {"rtt": float(rtt.group(1)) if rtt else float("nan"), "counters": counters,
            "reasons": {r: n / pings for r, n in reasons.items()},
            "msis": statistics.mean(msis) if msis else float("nan"),
            "answer_ms": statistics.median(times) * 1000 if times else float("nan")}

print(f"{pings} pings 0.3 s apart from an idle guest to the host, per ping "
      f"(KVM's counters and trace between the pings' first and last)")
for r in range(runs):
    for backend in backends:
        for vmm in vmms():
            p = profile(vmm, backend)
            if p is None:
                continue
            c = p["counters"]
            print(f"\n{backend} {vmm} (run {r + 1}): rtt {p['rtt']:.3f} ms, doorbell -> answer "
                  f"{p['answer_ms']:.3f} ms, {p['msis']:.2f} MSIs")
            print("  counters: " + ", ".join(f"{n} {c[n]:.1f}" for n in COUNTERS))
            reasons = sorted(p["reasons"].items(), key=lambda kv: -kv[1])
            print("  exits by reason: " + ", ".join(f"{n} {v:.1f}" for n, v in reasons))
PY
