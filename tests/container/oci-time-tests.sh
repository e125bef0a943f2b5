# Sourced by oci-tests.sh (its bundle, oci, check, one_line_error, status_of, wait_status):
# time namespaces, new with linux.timeOffsets or joined by path, as the command and
# `berth exec` see them; then the bad input. TAP.

# wait_lines FILE N: up to 5 s for FILE to hold N lines.
wait_lines() {
    local i
    for ((i = 0; i < 100; i++)); do
        [[ -f $1 && $(wc -l <"$1") -ge $2 ]] && return 0
        sleep 0.05
    done
    return 1
}
# offset_near A B OFFSET: A - B is OFFSET seconds, give or take 5 (A, B: /proc/uptime's
# first field, or seconds).
offset_near() {
    python3 - "$1" "$2" "$3" <<'EOF'
import sys
a, b, offset = (float(x) for x in sys.argv[1:4])
sys.exit(0 if abs(a - b - offset) < 5 else 1)
EOF
}

if [[ ! -e /proc/self/ns/time ]]; then
    tap_skip "linux.namespaces time" "this kernel has no time namespaces (Linux 5.6+)"
else
    # --- a new time namespace: boottime (/proc/uptime) and monotonic moved by the offsets
    boot_offset=86400000 # 1000 days
    bundle time-new '["sh", "-c", "cat /proc/uptime; cat /proc/self/timens_offsets; readlink /proc/self/ns/time; exec sleep 30"]' '
c["linux"]["namespaces"].append({"type": "time"})
c["linux"]["timeOffsets"] = {"boottime": {"secs": '"$boot_offset"', "nanosecs": 0},
                             "monotonic": {"secs": 3600, "nanosecs": 500}}'
    st=0
    "$BERTH" --root "$ROOT" create --bundle "$scratch/time-new" --pid-file "$scratch/tn.pid" "$prefix-tn" \
        >"$scratch/tn.stdout" 2>"$scratch/err" </dev/null || st=$?
    "$BERTH" --root "$ROOT" start "$prefix-tn" 2>>"$scratch/err" || st=$?
    wait_lines "$scratch/tn.stdout" 4
    host_uptime=$(cut -d' ' -f1 /proc/uptime)
    tn_init=$(cat "$scratch/tn.pid" 2>/dev/null)
    check "linux.timeOffsets boottime +$boot_offset s: the container's /proc/uptime is ahead of the host's by it" \
        offset_near "$(sed -n 1p "$scratch/tn.stdout" | cut -d' ' -f1)" "$host_uptime" "$boot_offset"
    check "... /proc/self/timens_offsets holds both offsets (monotonic 3600 s 500 ns)" \
        test "$(sed -n 2,3p "$scratch/tn.stdout" | tr -s ' ' | tr '\n' ,)" = "monotonic 3600 500,boottime $boot_offset 0,"
    check "... a time namespace of its own, which init is in too (its first process)" \
        test "$(sed -n 4p "$scratch/tn.stdout")" != "$(readlink /proc/self/ns/time)" -a \
        "$(sed -n 4p "$scratch/tn.stdout")" = "$(readlink "/proc/$tn_init/ns/time" 2>/dev/null)"
    oci exec "$prefix-tn" sh -c 'cat /proc/uptime; readlink /proc/self/ns/time'
    check "exec enters the container's new time namespace: the same clocks and namespace" \
        offset_near "$(sed -n 1p "$scratch/out" | cut -d' ' -f1)" "$(cut -d' ' -f1 /proc/uptime)" "$boot_offset"
    check "... (exec's /proc/self/ns/time is the container's)" \
        test "$st" -eq 0 -a "$(sed -n 2p "$scratch/out")" = "$(sed -n 4p "$scratch/tn.stdout")"
    oci delete --force "$prefix-tn"

    # --- a time namespace joined by path: exec must enter it too
    unshare --time --boottime 5000000 --fork sleep 60 </dev/null >/dev/null 2>&1 &
    unshare_pid=$!
    time_holder=
    for _ in $(seq 100); do
        time_holder=$(cat "/proc/$unshare_pid/task/$unshare_pid/children" 2>/dev/null | tr -d ' ')
        [[ -n $time_holder ]] && break
        sleep 0.02
    done
    bundle time-join '["sh", "-c", "cat /proc/uptime; exec sleep 30"]' '
c["linux"]["namespaces"].append({"type": "time", "path": "/proc/'"$time_holder"'/ns/time"})'
    st=0
    "$BERTH" --root "$ROOT" create --bundle "$scratch/time-join" "$prefix-tj" \
        >"$scratch/tj.stdout" 2>"$scratch/err" </dev/null || st=$?
    "$BERTH" --root "$ROOT" start "$prefix-tj" 2>>"$scratch/err" || st=$?
    wait_lines "$scratch/tj.stdout" 1
    check "linux.namespaces time by path: the command runs on the joined namespace's clocks (+5000000 s)" \
        offset_near "$(cut -d' ' -f1 "$scratch/tj.stdout")" "$(cut -d' ' -f1 /proc/uptime)" 5000000
    oci exec "$prefix-tj" sh -c 'cat /proc/uptime; readlink /proc/self/ns/time'
    check "exec into a container that joined a time namespace enters it (clocks and namespace)" \
        test "$st" -eq 0 -a "$(sed -n 2p "$scratch/out")" = "$(readlink "/proc/$time_holder/ns/time")"
    check "... (+5000000 s in exec's /proc/uptime)" \
        offset_near "$(sed -n 1p "$scratch/out" | cut -d' ' -f1)" "$(cut -d' ' -f1 /proc/uptime)" 5000000
    oci delete --force "$prefix-tj"
    kill -KILL "$time_holder" "$unshare_pid" 2>/dev/null
    wait "$unshare_pid" 2>/dev/null

    # --- bad input: one line naming the field, status 2, nothing left
    refused_with() {  # refused_with TEXT ID: one line holding TEXT, status 2, no state for ID
        one_line_error "$1" && test "$st" -eq 2 -a ! -e "$ROOT/$2"
    }
    time_refused() {  # time_refused NAME PYTHON TEXT
        bundle "time-$1" '["true"]' "$2"
        oci create --bundle "$scratch/time-$1" "$prefix-t$1"
        check "bad input, time $1: status 2, one line: $3" refused_with "$3" "$prefix-t$1"
    }
    time_refused no-namespace 'c["linux"]["timeOffsets"] = {"boottime": {"secs": 5}}' \
        'linux.timeOffsets: offsets need a new time namespace (a "time" entry without a path in linux.namespaces)'
    time_refused below-zero '
c["linux"]["namespaces"].append({"type": "time"})
c["linux"]["timeOffsets"] = {"boottime": {"secs": -999999999}}' \
        "linux.timeOffsets: the kernel refuses 'boottime -999999999 0': Numerical result out of range (a negative offset must be smaller than the time since boot)"
    time_refused nanosecs '
c["linux"]["namespaces"].append({"type": "time"})
c["linux"]["timeOffsets"] = {"monotonic": {"secs": 1, "nanosecs": 1000000000}}' \
        "linux.timeOffsets.monotonic.nanosecs: must be below 1000000000 (one second)"
    time_refused clock '
c["linux"]["namespaces"].append({"type": "time"})
c["linux"]["timeOffsets"] = {"realtime": {"secs": 1}}' \
        "linux.timeOffsets.realtime: is not a clock a time namespace offsets (monotonic, boottime)"
    check "... and no cgroup left by the refused ones" \
        test -z "$(find /sys/fs/cgroup -maxdepth 6 -name "berth-$prefix-t*" 2>/dev/null)"
fi
