#!/usr/bin/env bash
# Snapshot/restore against a cold boot and a container (issue 17's benchmark): the same
# workload (`echo berth-bench-marker` in berth's initramfs, 256 MiB, 1 vCPU) started
#   cold     berth vm run --kernel K --initrd I (a whole boot to the marker),
#   restore  berth vm run --restore DIR --restore-memory lazy, of a snapshot this script
#            takes of the same guest waiting for one console line just before the marker
#            (the line is given on stdin, so each restore runs straight on to the marker),
#   prefault the same with the default --restore-memory working-set: the working set the
#            warm-up restore recorded (DIR/working-set) is mapped into KVM before the
#            guest runs (Linux 6.10+; on an older kernel this row is lazy again),
#   eager    the same with --restore-memory eager (RAM copied onto huge pages first),
#   ct       berth ct run --rootfs (the same initramfs unpacked) -- sh -c 'echo ...',
# RUNS times each, interleaved, in ONE machine (the rig when this host's KVM cannot boot
# Linux, so that all three share one clock). Per run: wall time from spawn to the marker
# line on stdout and to exit; for the VMs KVM's exit count (debugfs, read when the marker
# line arrives and last before the VM goes away) and berth's own marks (BERTH_PHASES);
# for the restores the resident memory when its vCPU first enters the guest ("right after
# restore") and at the marker: the whole process (VmRSS) and the guest RAM mapping alone
# (the memory file's mapping; eager's RAM is anonymous, so only VmRSS counts there).
# Prints the medians and the ratios against the issue's targets: restore <= 0.05x cold
# boot in wall time and exits, resident memory <= 10% of guest RAM. Not a pass/fail test.
# Usage: tests/bench/snapshot.sh [BUILD_DIR]   env: RUNS (default 10), KERNEL, INITRD,
#        BERTH_BENCH_BERTH (another berth binary than BUILD_DIR/berth)
set -euo pipefail
default_runs=10
# shellcheck source=vm-bench-setup.sh
source "$(dirname "$0")/vm-bench-setup.sh" "$@"

# Local copies: reading the inputs over the rig's 9p share would be timed otherwise.
work=$(mktemp -d /tmp/snapshot-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp "${BERTH_BENCH_BERTH:-$build/berth}" "$work/berth"
cp "$kernel" "$work/vmlinuz"
cp "$initrd" "$work/initrd"
mkdir "$work/rootfs"
gzip -dc "$work/initrd" | (cd "$work/rootfs" && cpio -idm --quiet 2>/dev/null)

exec python3 - "$work" "$runs" "$kernel" <<'PY'
import glob, os, statistics, subprocess, sys, time, fcntl

work, runs, kernel_name = sys.argv[1], int(sys.argv[2]), os.path.basename(sys.argv[3])
berth, kernel, initrd, rootfs = (f"{work}/{n}" for n in ("berth", "vmlinuz", "initrd", "rootfs"))
marker = b"berth-bench-marker"
point = b"berth-bench-snapshot-point"
memory_mib = 256
snapshot = f"{work}/snapshot"
socket = f"{work}/api.sock"
vm = [berth, "vm", "run", "--kernel", kernel, "--initrd", initrd, "--memory", f"{memory_mib}M"]
commands = {
    "cold": vm + ["--cmdline", "quiet berth_run=\"echo berth-bench-marker\""],
    "restore": [berth, "vm", "run", "--restore", snapshot, "--restore-memory", "lazy"],
    "prefault": [berth, "vm", "run", "--restore", snapshot],
    "eager": [berth, "vm", "run", "--restore", snapshot, "--restore-memory", "eager"],
    "ct": [berth, "ct", "run", "--rootfs", rootfs, "--memory", "64M", "--pids", "64", "--",
           "/bin/sh", "-c", "echo berth-bench-marker"],
}
stdin_text = {"restore": b"\n", "prefault": b"\n", "eager": b"\n"}
restores = ("restore", "prefault", "eager")
labels = {"restore": "restore (lazy)", "prefault": "restore, pre-faulted working set",
          "eager": "restore, eager"}
debugfs = "/sys/kernel/debug/kvm"

# What the exits are: nested page faults KVM fixed (pf_fixed: one per 4 KiB page, or per
# 2 MiB page where the host backs guest RAM with huge pages), port I/O, halts.
counter_names = ("exits", "pf_fixed", "io_exits", "halt_exits")

def kvm_counters(pid):
    for d in glob.glob(f"{debugfs}/{pid}-*"):
        try:
            out = {}
            for name in counter_names:
                with open(f"{d}/{name}") as f:
                    out[name] = int(f.read())
            return out
        except (OSError, ValueError):
            return None
    return None

def resident(pid):
    """(VmRSS, Rss of the snapshot's memory mapping) in KiB."""
    rss = ram = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    in_ram = False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            fields = line.split()
            if "-" in fields[0] and not fields[0].endswith(":"):
                in_ram = len(fields) >= 6 and fields[5] == f"{snapshot}/memory"
            elif in_ram and fields[0] == "Rss:":
                ram += int(fields[1])
    return rss, ram

def nonblocking(fd):
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)

def run_once(name, on_line=None, watch=marker):
    marks_read, marks_write = os.pipe()
    env = dict(os.environ, BERTH_PHASES=str(marks_write))
    start = time.monotonic_ns()
    proc = subprocess.Popen(commands[name], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env, pass_fds=(marks_write,))
    os.close(marks_write)
    if name in stdin_text:
        proc.stdin.write(stdin_text[name])
    proc.stdin.close()
    out = proc.stdout.fileno()
    nonblocking(out)
    nonblocking(marks_read)
    output, marks_text = b"", b""
    res = {"marker": None, "exits_marker": None, "exits": None, "rss_entry": None,
           "rss_marker": None, "marks": {}}
    deadline = time.monotonic() + 600
    while True:
        got = False
        for fd in (out, marks_read):
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                continue
            got = got or bool(chunk)
            if fd == out:
                output += chunk
            else:
                marks_text += chunk
        for line in marks_text.split(b"\n")[:-1]:
            mark, ns = line.split()
            res["marks"].setdefault(mark.decode(), (int(ns) - start) / 1e9)
        if "vcpu_entry" in res["marks"] and res["rss_entry"] is None and name in restores:
            try:
                res["rss_entry"] = resident(proc.pid)
            except OSError:
                pass
        counters = kvm_counters(proc.pid)
        if counters is not None:
            res["exits"] = counters["exits"]
        if res["marker"] is None and watch in output:
            res["marker"] = (time.monotonic_ns() - start) / 1e9
            res["exits_marker"] = counters["exits"] if counters else None
            res["counters_marker"] = counters
            if name in restores:
                try:
                    res["rss_marker"] = resident(proc.pid)
                except OSError:
                    pass
            if on_line:
                on_line()
        if proc.poll() is not None:
            break
        if time.monotonic() > deadline:
            proc.kill()
        if not got:
            time.sleep(0.005)
    res["exit"] = (time.monotonic_ns() - start) / 1e9
    output += proc.stdout.read() or b""
    os.close(marks_read)
    res["ok"] = proc.returncode == 0 and res["marker"] is not None
    if not res["ok"] and on_line is None:
        sys.stderr.write(f"{name}: run failed (status {proc.returncode}); output:\n")
        sys.stderr.write(output.decode(errors="replace")[-2000:] + "\n")
    return res

# The snapshot: the same guest, waiting for its console line just before the marker.
def take_snapshot():
    time.sleep(2)  # let the guest's shell reach its read
    subprocess.run([berth, "vm", "ctl", socket, "snapshot", snapshot], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([berth, "vm", "ctl", socket, "stop"], check=True, stdout=subprocess.DEVNULL)

commands["prepare"] = vm + ["--api-socket", socket, "--cmdline",
                            "quiet berth_run=\"echo berth-bench-snapshot-point; "
                            "read line </dev/console; echo berth-bench-marker\""]
prepared = run_once("prepare", on_line=take_snapshot, watch=point)
if not os.path.exists(f"{snapshot}/state"):
    sys.exit("snapshot.sh: could not take the snapshot")
du = subprocess.run(["du", "-k", f"{snapshot}/memory"], capture_output=True, text=True)
print(f"# snapshot taken {prepared['marker']:.2f} s into a boot; memory file uses "
      f"{du.stdout.split()[0]} KiB on disk of {memory_mib} MiB", flush=True)

# berth ct with cgroup limits needs cgroups mounted (the rig mounts none): without them
# it runs with no limits and says so.
probe = run_once("ct")
if not probe["ok"]:
    commands["ct"] = [w for w in commands["ct"] if w not in ("--memory", "64M", "--pids", "64")]
    print("# berth ct run --memory/--pids failed here (no cgroups?): containers run without "
          "limits", flush=True)

results = {name: [] for name in ("cold", "restore", "prefault", "eager", "ct")}
# Warm-up, not counted: the snapshot's boot already paged berth and the inputs in for a
# cold boot (in the rig a boot costs a minute or more), the ct probe for the container.
# The first default restore records the snapshot's working set (where the kernel can
# pre-fault), which the counted "prefault" runs then map ahead.
run_once("restore")
run_once("prefault")
run_once("eager")
def working_set_summary():
    try:
        with open(f"{snapshot}/working-set", "rb") as f:
            data = f.read()
    except OSError:
        return ("none recorded (a kernel without KVM_PRE_FAULT_MEMORY: the prefault row "
                "restores lazily)")
    runs_ = [data[i:i + 16] for i in range(24, len(data), 16)]
    pages = [int.from_bytes(r[8:12], "little") for r in runs_]
    written = sum(p for r, p in zip(runs_, pages) if int.from_bytes(r[12:16], "little") == 1)
    return (f"{len(runs_)} runs, {sum(pages)} pages ({sum(pages) * 4 / 1024:.1f} MiB), "
            f"{written} of them written; file {len(data)} bytes")
print(f"# working set: {working_set_summary()}", flush=True)
for r in range(runs):
    for name in results:
        res = run_once(name)
        if res["ok"]:
            results[name].append(res)
        rss = (f" rss@entry {res['rss_entry']} rss@marker {res['rss_marker']} KiB (total, guest RAM)"
               if name in restores else "")
        print(f"# run {r + 1} {name}: marker {res['marker']} exit {res['exit']:.3f} s exits@marker "
              f"{res['exits_marker']} exits {res['exits']}{rss} marks "
              + " ".join(f"{k}={v:.4f}" for k, v in res["marks"].items()), flush=True)

def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")

s = {}
for name, rs in results.items():
    s[name] = {
        "marker": med([x["marker"] for x in rs]),
        "exit": med([x["exit"] for x in rs]),
        "exits_marker": med([x["exits_marker"] for x in rs]),
        **{f"{n}_marker": med([(x.get("counters_marker") or {}).get(n) for x in rs])
           for n in counter_names[1:]},
        "exits": med([x["exits"] for x in rs]),
        "rss_entry": med([x["rss_entry"][0] for x in rs if x["rss_entry"]]),
        "ram_entry": med([x["rss_entry"][1] for x in rs if x["rss_entry"]]),
        "rss_marker": med([x["rss_marker"][0] for x in rs if x["rss_marker"]]),
        "ram_marker": med([x["rss_marker"][1] for x in rs if x["rss_marker"]]),
        "good": len(rs),
    }
print(f"\nsnapshot restore vs cold boot vs container, {runs} runs each, medians; "
      f"{memory_mib} MiB, 1 vCPU, kernel {kernel_name}, "
      f"in {'the rig (emulated)' if os.environ.get('BERTH_IN_RIG') else 'this host'}, "
      f"host kernel {os.uname().release}")
print(f"{'':8} {'t marker':>10} {'t exit':>10} {'exits@mk':>9} {'exits':>9} {'good':>5}   "
      "at the marker: npf fixed, io, hlt")
for name, v in s.items():
    exits = (f"{v['exits_marker']:9.0f} {v['exits']:9.0f}" if name != "ct" else f"{'':9} {'':9}")
    kinds = (f"   {v['pf_fixed_marker']:.0f}, {v['io_exits_marker']:.0f}, "
             f"{v['halt_exits_marker']:.0f}" if name != "ct" else "")
    print(f"{name:8} {v['marker'] * 1000:8.2f}ms {v['exit'] * 1000:8.2f}ms {exits} {v['good']:5}"
          + kinds)
c, t = s["cold"], s["ct"]
limit = memory_mib * 1024 // 10
for name in restores:
    r = s[name]
    print(f"{name} = {labels[name]}")
    print(f"{name}/cold: wall to marker {r['marker'] / c['marker']:.4f}x, exits to marker "
          f"{r['exits_marker'] / c['exits_marker']:.4f}x (target <= 0.05x each); wall to exit "
          f"{r['exit'] / c['exit']:.4f}x, exits to exit {r['exits'] / c['exits']:.4f}x")
    print(f"{name}/ct: wall to marker {r['marker'] / t['marker']:.2f}x, to exit "
          f"{r['exit'] / t['exit']:.2f}x")
    print(f"{name} resident memory: right after restore (first KVM_RUN) "
          f"{r['rss_entry'] / 1024:.1f} MiB process, {r['ram_entry'] / 1024:.1f} MiB of the "
          f"memory file; at the marker {r['rss_marker'] / 1024:.1f} MiB process, "
          f"{r['ram_marker'] / 1024:.1f} MiB of the memory file (target <= {limit / 1024:.1f} "
          f"MiB, 10% of {memory_mib} MiB)")
PY
