#!/usr/bin/env bash
# podman end to end with berth and with runc as its OCI runtime, in the same run: cycles
# of `podman run --rm IMAGE /bin/true` (podman, conmon and the runtime's create, start,
# state, delete ...), on the busybox rootfs imported into a podman store of the
# benchmark's own (overlay driver, under the build folder), rounds interleaved so that
# both see the same machine load. Two networks: `--network none`, where the runtime's
# share shows most, and podman's default (its CNI bridge). Prints each runtime's median
# and minimum per run and the ratio berth/runc (target: <= 0.8). Needs root and podman.
# Usage: tests/bench/podman-run.sh [BUILD_DIR] [CYCLES]   (defaults: build, 30)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
cycles=${2:-30}
[[ $(id -u) -eq 0 ]] || { echo "tests/bench/podman-run.sh: needs root" >&2; exit 2; }
for tool in podman runc; do
    command -v $tool >/dev/null || { echo "tests/bench/podman-run.sh: needs $tool (apt-get install $tool)" >&2; exit 2; }
done
rootfs="$build/ct-rootfs"
"$root/images/busybox-rootfs.sh" "$rootfs"
work=$(mktemp -d "$build/podman-bench.XXXXXX")
pod=(podman --root "$work/store" --runroot "$work/run" --storage-driver overlay)
cleanup() {
    "${pod[@]}" rm -af >/dev/null 2>&1 || true
    # The overlay store's layers are mounted while podman holds them.
    "${pod[@]}" system reset -f >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
# Limits within this host's (podman asks for nofile 1048576 otherwise, which a root
# without CAP_SYS_RESOURCE cannot raise to: runc and berth both refuse then).
printf '[containers]\ndefault_ulimits = ["nofile=1024:4096", "nproc=1000:2000"]\n' >"$work/containers.conf"
export CONTAINERS_CONF="$work/containers.conf"
tar -C "$rootfs" -c . | "${pod[@]}" import - localhost/bench-busybox >/dev/null
python3 - "$(realpath "$build/berth")" "$(command -v runc)" "$cycles" "${pod[@]}" <<'PY'
import statistics, subprocess, sys, time
berth, runc, cycles, pod = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
runtimes = {"berth": berth, "runc": runc}

def run(binary, network):
    argv = pod + ["--runtime", binary, "run", "--rm"] + network + ["localhost/bench-busybox", "/bin/true"]
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start

print(f"podman run --rm localhost/bench-busybox /bin/true, {cycles} runs each, interleaved")
print(f"{'network':10} {'runtime':8} {'median ms':>10} {'min ms':>8}")
for label, network in (("none", ["--network", "none"]), ("default", [])):
    times = {name: [] for name in runtimes}
    for binary in runtimes.values():  # one warm-up each
        run(binary, network)
    for _ in range(cycles):
        for name, binary in runtimes.items():
            times[name].append(run(binary, network))
    for name in runtimes:
        print(f"{label:10} {name:8} {statistics.median(times[name]) * 1000:10.1f} "
              f"{min(times[name]) * 1000:8.1f}")
    ratio = statistics.median(times["berth"]) / statistics.median(times["runc"])
    print(f"{label:10} berth/runc: {ratio:.2f}x (median; target <= 0.8x)")
PY
