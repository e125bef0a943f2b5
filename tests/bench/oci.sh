#!/usr/bin/env bash
# berth against runc as an OCI runtime, on the same bundle in the same run: cycles of
# `create` + `start` + wait for the container's end + `delete` of /bin/true in the
# busybox rootfs with a memory and a pids limit (the bundle is `runc spec`'s with those
# limits), rounds interleaved so that both see the same machine load. The waiting is
# what a caller (conmon, containerd's shim) does: the benchmark makes itself a
# subreaper, so the container's init, orphaned when `create` exits, becomes its child
# and is reaped with waitpid. Prints each runtime's median and minimum per cycle, the
# CPU time of the cycle's processes, and the ratios berth/runc (target: <= 0.3).
# Needs root and runc (podman brings it).
# Usage: tests/bench/oci.sh [BUILD_DIR] [CYCLES]   (defaults: build, 30)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
cycles=${2:-30}
[[ $(id -u) -eq 0 ]] || { echo "tests/bench/oci.sh: needs root (namespaces, cgroups)" >&2; exit 2; }
command -v runc >/dev/null || { echo "tests/bench/oci.sh: needs runc (apt-get install runc)" >&2; exit 2; }
rootfs="$build/ct-rootfs"
"$root/images/busybox-rootfs.sh" "$rootfs"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
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
python3 - "$build/berth" "$(command -v runc)" "$work" "$cycles" <<'PY'
import ctypes, os, resource, statistics, subprocess, sys, time
berth, runc, work, cycles = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
PR_SET_CHILD_SUBREAPER = 36
ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
bundle = os.path.join(work, "bundle")
runtimes = {"berth": berth, "runc": runc}
wall = {name: [] for name in runtimes}
cpu = {name: [] for name in runtimes}

def step(*argv):
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)

def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime

def cycle(name, binary, i):
    state = os.path.join(work, name + "-state")
    cid = f"bench-{name}-{i}"
    pid_file = os.path.join(work, cid + ".pid")
    cpu_before = children_cpu()
    start = time.perf_counter()
    step(binary, "--root", state, "create", "--bundle", bundle, "--pid-file", pid_file, cid)
    init = int(open(pid_file).read())
    step(binary, "--root", state, "start", cid)
    _, status = os.waitpid(init, 0)  # ours: orphaned when create exited
    step(binary, "--root", state, "delete", cid)
    wall[name].append(time.perf_counter() - start)
    cpu[name].append(children_cpu() - cpu_before)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{name}: /bin/true exited with {os.waitstatus_to_exitcode(status)}")

for name, binary in runtimes.items():  # one warm-up each
    cycle(name, binary, "warm")
for name in runtimes:
    wall[name].clear()
    cpu[name].clear()
for i in range(cycles):
    for name, binary in runtimes.items():
        cycle(name, binary, i)

ms = lambda seconds: seconds * 1000
print(f"create+start+wait+delete of /bin/true, --memory 64M --pids 64, {cycles} cycles each")
print(f"{'runtime':8} {'median ms':>10} {'min ms':>8} {'cpu ms':>8}")
for name in runtimes:
    print(f"{name:8} {ms(statistics.median(wall[name])):10.1f} {ms(min(wall[name])):8.1f} "
          f"{ms(statistics.median(cpu[name])):8.1f}")
ratio = statistics.median(wall["berth"]) / statistics.median(wall["runc"])
cpu_ratio = statistics.median(cpu["berth"]) / statistics.median(cpu["runc"])
print(f"berth/runc: {ratio:.2f}x time (median), {cpu_ratio:.2f}x CPU (target <= 0.3x)")
PY
