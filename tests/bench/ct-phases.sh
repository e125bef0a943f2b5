#!/usr/bin/env bash
# Where a `berth ct run` spends its time: the BERTH_PHASES marks (vmm/common/phase_clock)
# of `ct run --memory 64M --pids 64 -- /bin/true` in the busybox rootfs, as milliseconds
# after main, medians of RUNS runs: before the command (main, namespaces, netns, rootfs,
# cgroup, exec) and after it (command_ended: init reaped it; cgroups_removed; init_reaped:
# berth reaped init, whose exit tore the namespaces down), with spawn and berth_exited
# as this script saw them. With BERTH_BENCH_BASELINE (an older berth) both run
# interleaved, so that a change's cost shows phase by phase. Needs root.
# Usage: tests/bench/ct-phases.sh [BUILD_DIR] [RUNS]   (defaults: build, 60)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
runs=${2:-60}
rootfs="$build/ct-rootfs"
"$root/images/busybox-rootfs.sh" "$rootfs"

python3 - "$runs" "$rootfs" "berth=$build/berth" \
    ${BERTH_BENCH_BASELINE:+"baseline=$BERTH_BENCH_BASELINE"} <<'PY'
import os, statistics, subprocess, sys, time
runs, rootfs = int(sys.argv[1]), sys.argv[2]
binaries = dict(arg.split("=", 1) for arg in sys.argv[3:])
marks = {name: {} for name in binaries}
for _ in range(runs):
    for name, berth in binaries.items():
        read_end, write_end = os.pipe()
        env = dict(os.environ, BERTH_PHASES=str(write_end))
        started = time.monotonic_ns()
        subprocess.run([berth, "ct", "run", "--rootfs", rootfs, "--memory", "64M", "--pids", "64",
                        "--", "/bin/true"], env=env, pass_fds=(write_end,), check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        ended = time.monotonic_ns()  # the same clock as the marks (CLOCK_MONOTONIC)
        os.close(write_end)
        with os.fdopen(read_end) as pipe:
            lines = [line.split() for line in pipe.read().splitlines() if line.strip()]
        lines += [["spawn", str(started)], ["berth_exited", str(ended)]]
        start = int(lines[0][1])
        for mark, nanoseconds in lines:
            marks[name].setdefault(mark, []).append((int(nanoseconds) - start) / 1e6)
print(f"ms after main, medians of {runs} runs (phases in the order berth reaches them)")
for name, phases in marks.items():
    ordered = sorted(phases.items(), key=lambda item: statistics.median(item[1]))
    print(f"{name:<9}" + "  ".join(f"{mark} {statistics.median(v):.2f}" for mark, v in ordered))
PY
