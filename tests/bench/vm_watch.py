"""What the VM benchmarks (boot.sh, image.sh) share: start a VMM, watch its console for a
marker line, and sample KVM's per-VM counters while it lives.

KVM keeps counters for each VM in debugfs, /sys/kernel/debug/kvm/PID-FD/ (exits,
io_exits, halt_exits, ...). They vanish with the VM, so a run samples them every 10 ms
and keeps the last sample taken and the one taken when the marker appeared.
"""
import fcntl
import glob
import os
import statistics
import subprocess
import time

DEBUGFS = "/sys/kernel/debug/kvm"


def kvm_counters(pid, names=("exits",)):
    """The named counters of the VM that process pid runs, or None while it has none."""
    dirs = glob.glob(f"{DEBUGFS}/{pid}-*")
    if not dirs:
        return None
    out = {}
    try:
        for name in names:
            with open(f"{dirs[0]}/{name}") as f:
                out[name] = int(f.read())
    except (OSError, ValueError):
        return None
    return out


def all_kvm_counters(pid):
    """Every counter of that VM (halt_exits, pf_fixed, ...), to explain where exits come from."""
    dirs = glob.glob(f"{DEBUGFS}/{pid}-*")
    out = {}
    for path in glob.glob(f"{dirs[0]}/*") if dirs else []:
        try:
            with open(path) as f:
                out[os.path.basename(path)] = int(f.read())
        except (OSError, ValueError):
            pass
    return out


def median(values):
    """The median of the values that are not None; NaN when there are none."""
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def watch(command, marker, counters=("exits",), on_marker=None, on_sample=None,
          on_output=None):
    """Runs command (stdin closed, stderr into stdout) until it exits.

    Returns a dict: output (bytes), status, marker and exit (seconds from the spawn to
    the marker's appearance on stdout, None if it never came, and to the exit),
    at_marker and last (the counters then and at the last sample before the VM went
    away). on_marker(pid) runs once when the marker appears and its result is kept as
    "marker_data"; on_sample(pid, n) runs after the n-th sample that found the VM;
    on_output(pid, output) after each read that brought more output.
    """
    start = time.monotonic()
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    fd = proc.stdout.fileno()
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
    run = {"output": b"", "marker": None, "at_marker": None, "last": None,
           "marker_data": None}
    samples = 0
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            chunk = None
        if chunk:
            run["output"] += chunk
            if on_output:
                on_output(proc.pid, run["output"])
        sample = kvm_counters(proc.pid, counters)
        if sample:
            run["last"] = sample
            samples += 1
            if on_sample:
                on_sample(proc.pid, samples)
        if run["marker"] is None and marker in run["output"]:
            run["marker"] = time.monotonic() - start
            run["at_marker"] = sample or run["last"]
            if on_marker:
                run["marker_data"] = on_marker(proc.pid)
        if proc.poll() is not None:
            break
        if chunk is None:
            time.sleep(0.01)
    run["exit"] = time.monotonic() - start
    run["output"] += proc.stdout.read() or b""
    run["status"] = proc.returncode
    return run
