#!/usr/bin/env bash
# Start-to-exit of /bin/true in the busybox rootfs: berth ct run (with --memory and
# --pids, so cgroups are created and removed each time) against bubblewrap (no cgroups)
# and runc (an OCI bundle from `runc spec`, same limits), rounds interleaved so that
# all see the same machine load. Prints medians, minima, the CPU time of each run's
# process tree (user + system, from wait4: on a busy machine the wall time mostly
# measures the other jobs) and the ratios of each. bwrap's parent exits without reaping
# its sandbox's pid 1, so bwrap's CPU figure leaves the sandbox out (and its time the
# sandbox's teardown): no CPU ratio against it. Needs root.
# Usage: tests/bench/ct-startup.sh [BUILD_DIR] [RUNS]   (defaults: build, 30)
#        env BERTH_BENCH_BASELINE: an older berth binary, run interleaved as "baseline"
#        (same flags as berth), so that a change's cost is a ratio from the same run.
#        env GAP_MS: a pause before every run (default 0). Back to back, each run finds
#        the kernel warm from the one before; with GAP_MS=50 every run starts as a single
#        `ct run` typed at a shell does (e.g. the cgroup core's RCU sync has gone idle:
#        a pid written to cgroup.procs then waits out a grace period, 5-16 ms here).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
runs=${2:-30}
berth="$build/berth"
rootfs="$build/ct-rootfs"
"$root/images/busybox-rootfs.sh" "$rootfs"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
declare -a names commands
names+=(berth)
commands+=("$berth ct run --rootfs $rootfs --memory 64M --pids 64 -- /bin/true")
if [[ -n ${BERTH_BENCH_BASELINE:-} ]]; then
    names+=(baseline)
    commands+=("$BERTH_BENCH_BASELINE ct run --rootfs $rootfs --memory 64M --pids 64 -- /bin/true")
fi
# The same without limits: what the cgroups cost.
names+=(berth-nocg)
commands+=("$berth ct run --rootfs $rootfs -- /bin/true")
if command -v bwrap >/dev/null; then
    names+=(bwrap)
    commands+=("bwrap --unshare-all --bind $rootfs / /bin/true")
    # Like for like: bwrap also mounting /proc and /dev, as berth does.
    names+=(bwrap+pd)
    commands+=("bwrap --unshare-all --bind $rootfs / --proc /proc --dev /dev /bin/true")
fi
if command -v runc >/dev/null; then
    mkdir -p "$work/bundle"
    (cd "$work/bundle" && runc spec)
    python3 - "$work/bundle/config.json" "$rootfs" <<'PY'
import json, sys
path, rootfs = sys.argv[1], sys.argv[2]
config = json.load(open(path))
config["root"] = {"path": rootfs, "readonly": False}
config["process"]["terminal"] = False
config["process"]["args"] = ["/bin/true"]
config["linux"]["resources"] = {"memory": {"limit": 64 << 20}, "pids": {"limit": 64}}
json.dump(config, open(path, "w"), indent=1)
PY
    names+=(runc)
    commands+=("runc --root $work/runc-state run --bundle $work/bundle berth-bench-@")
fi

python3 - "$runs" "${GAP_MS:-0}" "${names[@]}" -- "${commands[@]}" <<'PY'
import os, shlex, statistics, subprocess, sys, time
runs = int(sys.argv[1])
gap = float(sys.argv[2]) / 1000
del sys.argv[2]
rest = sys.argv[2:]
split = rest.index("--")
names, commands = rest[:split], rest[split + 1:]
times = {name: [] for name in names}
cpu = {name: [] for name in names}
def run(name, command, i):
    argv = [word.replace("@", str(i)) for word in shlex.split(command)]
    if gap:
        time.sleep(gap)
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # wait4's usage covers the process and every descendant it waited for.
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"{name} failed (status {process.returncode}): {process.stderr.read().decode().strip()}")
    process.stderr.close()
    return elapsed, usage.ru_utime + usage.ru_stime
for i in range(3):  # warm the page cache
    for name, command in zip(names, commands):
        run(name, command, 1000 + i)
# Each round starts with the next tool: whoever runs right after runc meets the kernel
# still cleaning up after it (network namespace, memory cgroup), so no tool always does.
for i in range(runs):
    order = list(zip(names, commands))
    order = order[i % len(order):] + order[:i % len(order)]
    for name, command in order:
        elapsed, used = run(name, command, i)
        times[name].append(elapsed * 1000)
        cpu[name].append(used * 1000)
medians = {name: statistics.median(values) for name, values in times.items()}
minima = {name: min(values) for name, values in times.items()}
cpu_medians = {name: statistics.median(values) for name, values in cpu.items()}
spacing = f", {gap * 1000:g} ms apart" if gap else ", back to back"
print(f"start-to-exit of /bin/true, {runs} runs each, interleaved{spacing} (ms); "
      f"load average {os.getloadavg()[0]:.1f}")
print(f"{'tool':<11}{'median':>8}{'min':>8}{'max':>8}{'cpu':>8}")
for name in names:
    print(f"{name:<11}{medians[name]:>8.2f}{minima[name]:>8.2f}{max(times[name]):>8.2f}{cpu_medians[name]:>8.2f}")
if "baseline" in medians:
    print(f"berth/baseline = {medians['berth'] / medians['baseline']:.3f}x; "
          f"minima {minima['berth'] / minima['baseline']:.3f}x, "
          f"cpu {cpu_medians['berth'] / cpu_medians['baseline']:.3f}x")
for peer, target in (("runc", 0.3), ("bwrap", 1.2), ("bwrap+pd", 1.2)):
    if peer in medians:
        ratio = medians["berth"] / medians[peer]
        verdict = "meets" if ratio <= target else "misses"
        cpu_ratio = "" if peer.startswith("bwrap") else f", cpu {cpu_medians['berth'] / cpu_medians[peer]:.2f}x"
        print(f"berth/{peer} = {ratio:.2f}x (target <= {target}x: {verdict}); "
              f"minima {minima['berth'] / minima[peer]:.2f}x{cpu_ratio}")
PY
