# The control API (berth vm run --api-socket, berth vm ctl), sourced by kvm-tests.sh
# after linux-tests.sh (uses its not_ok, $scratch, $kernel, $initramfs and $marker).
# One boot of a 2-vCPU guest that prints a counter serves every case: info, pause
# (the counter stops), stats, resume (it goes on), errors (404, 405, 400 with JSON
# bodies), clients that hang up mid-request, and a hard stop (berth exits 0). Every
# answer is checked against docs/api/openapi.yaml by api_check.py, in two batches:
# python starts slowly in the emulated rig.
if [[ -z ${linux_guest_ready:-} ]]; then
    tap_skip "control API tests" "no Debian kernel in /boot or no initramfs (busybox-static)"
    return 0 2>/dev/null || exit 0
fi
api_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
api_spec=$api_here/../../docs/api/openapi.yaml
api_socket=$scratch/api.sock
api_batch() { python3 "$api_here/api_check.py" "$api_spec" "$api_socket" --batch "$1"; }
# The guest's console lines end in \r\n.
ticks() { grep -c '^tick=' "$scratch/api-out"; }
# ctl COMMAND NAME: berth vm ctl; its JSON in $scratch/NAME.json, status in $ctl_status.
ctl() {
    ctl_status=0
    timeout 60 "$BERTH" vm ctl "$api_socket" "$1" >"$scratch/$2.json" 2>"$scratch/ctl.err" ||
        ctl_status=$?
}
in_json() { grep -qF -- "$2" "$scratch/$1.json"; }
total_exits() { sed -n 's/.*"total_exits":\([0-9]*\).*/\1/p' "$scratch/$1.json"; }

# A stale socket (left by a berth that died) is taken over.
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$api_socket"
timeout 400 "$BERTH" vm run --kernel "$kernel" --initrd "$initramfs" --cpus 2 \
    --api-socket "$api_socket" \
    --cmdline 'quiet berth_run="i=0; while :; do echo tick=$i; i=$((i+1)); sleep 0.2; done"' \
    >"$scratch/api-out" 2>"$scratch/api-err" </dev/null &
api_pid=$!
deadline=$((SECONDS + 240))
while ((SECONDS < deadline)) && (($(ticks) < 3)) && kill -0 "$api_pid" 2>/dev/null; do
    sleep 1
done
if (($(ticks) < 3)); then
    not_ok "a guest with --api-socket boots and counts (over a stale socket)"
    tap_diag "stdout: " <"$scratch/api-out"
    tap_diag "stderr: " <"$scratch/api-err"
    kill "$api_pid" 2>/dev/null
    wait "$api_pid" 2>/dev/null
    return 0 2>/dev/null || exit 0
fi
tap_ok "a guest with --api-socket boots and counts (over a stale socket)"

ctl info info
if [[ $ctl_status -eq 0 ]] && in_json info '"state":"running"' && in_json info '"vcpus":2' &&
   in_json info "\"memory_bytes\":$((256 << 20))" && in_json info '"serial 8250 (COM1)"'; then
    tap_ok "vm ctl info: running, 2 vCPUs, 256 MiB, its devices"
else
    not_ok "vm ctl info (status $ctl_status): $(cat "$scratch/info.json" "$scratch/ctl.err")"
fi

ctl pause pause
paused_at=$(ticks)
sleep 3
if [[ $ctl_status -eq 0 && $(ticks) -eq $paused_at ]] && in_json pause '"state":"paused"'; then
    tap_ok "vm ctl pause: state paused, the guest's counter stops ($paused_at ticks for 3 s)"
else
    not_ok "vm ctl pause (status $ctl_status, ticks $paused_at then $(ticks)): $(cat "$scratch/ctl.err")"
fi

ctl pause pause-again
if [[ $ctl_status -eq 1 && $(wc -l <"$scratch/ctl.err") -eq 1 && ! -s $scratch/pause-again.json ]] &&
   grep -q "the VM answered 400: cannot pause: the VM is paused already" "$scratch/ctl.err"; then
    tap_ok "pausing a paused VM: 400; vm ctl says so in one line, status 1"
else
    not_ok "pausing a paused VM (status $ctl_status): $(cat "$scratch/ctl.err")"
fi

ctl stats stats-paused
if [[ $ctl_status -eq 0 && $(total_exits stats-paused) -gt 0 ]] &&
   grep -qE '"serial 8250 \(COM1\)":[1-9]' "$scratch/stats-paused.json" &&
   in_json stats-paused '"direction":"out","port":1016'; then
    tap_ok "vm ctl stats while paused: $(total_exits stats-paused) exits, by reason and by device"
else
    not_ok "vm ctl stats (status $ctl_status): $(head -c 300 "$scratch/stats-paused.json")"
fi

ctl resume resume
resumed_at=$(ticks)
sleep 3
if [[ $ctl_status -eq 0 && $(ticks) -gt $resumed_at ]] && in_json resume '"state":"running"'; then
    tap_ok "vm ctl resume: state running, the counter goes on ($resumed_at -> $(ticks))"
else
    not_ok "vm ctl resume (status $ctl_status, ticks $resumed_at then $(ticks)): $(cat "$scratch/ctl.err")"
fi

# Statistics of a running VM (read with the vCPUs parked for a moment), twice: the
# counts grow, and the VM runs on.
ctl stats stats-running
before=$(ticks)
sleep 2
if [[ $ctl_status -eq 0 && $(total_exits stats-running) -gt $(total_exits stats-paused) &&
      $(ticks) -gt $before ]]; then
    tap_ok "stats of a running VM grow ($(total_exits stats-paused) -> $(total_exits stats-running)) and leave it running"
else
    not_ok "stats of a running VM (status $ctl_status)"
fi

# Bad requests, each answered with a JSON error body (ErrorBody) and its status; then
# clients that hang up in the middle of a request (a body shorter than its length, a
# half request line), which must change nothing.
tab=$'\t'
cat >"$scratch/bad-requests" <<EOF_BATCH
GET${tab}/nowhere${tab}--status${tab}404
POST${tab}/vm${tab}--status${tab}405
DELETE${tab}/vm/pause${tab}--status${tab}405
PUT${tab}/vm/pause${tab}{"paused":${tab}--status${tab}400
PUT${tab}/vm/pause${tab}[1]${tab}--status${tab}400
PUT${tab}/vm/pause${tab}{"force":true}${tab}--status${tab}400
--raw${tab}NONSENSE\r\n\r\n${tab}--status${tab}400
PUT${tab}/vm/resume${tab}{}${tab}--status${tab}400
--hang-up${tab}PUT /vm/pause HTTP/1.1\r\nContent-Length: 100\r\n\r\n{
--hang-up${tab}GET /v
EOF_BATCH
if api_batch "$scratch/bad-requests" 2>"$scratch/batch.err"; then
    tap_ok "bad requests: 404 unknown path, 405 wrong method, 400 bad body, malformed request or wrong state, each a JSON error"
else
    not_ok "bad requests: $(tr '\n' '|' <"$scratch/batch.err")"
fi
before=$(ticks)
sleep 1
ctl info info-after-hang-up
if [[ $ctl_status -eq 0 && $(ticks) -gt $before ]] && in_json info-after-hang-up '"state":"running"'; then
    tap_ok "clients that hang up mid-request leave the VM running and the API answering"
else
    not_ok "clients that hang up mid-request (status $ctl_status)"
fi

# A second berth on the same socket is refused before it starts a VM.
status=0
timeout 60 "$BERTH" vm run --kernel "$kernel" --initrd "$initramfs" --api-socket "$api_socket" \
    >"$scratch/out" 2>"$scratch/err" </dev/null || status=$?
if [[ $status -eq 2 && $(wc -l <"$scratch/err") -eq 1 ]] && grep -q "another process listens" "$scratch/err"; then
    tap_ok "a socket another berth serves is refused: one line, status 2"
else
    not_ok "a socket another berth serves is refused (status $status)"
fi

# The hard stop: the answer comes back, berth exits 0 and removes its socket.
ctl stop stop
status=0
wait "$api_pid" || status=$?
if [[ $ctl_status -eq 0 && $status -eq 0 && ! -e $api_socket ]] && in_json stop '"state":"stopping"'; then
    tap_ok "vm ctl stop: answered (state stopping), berth exits 0 and removes the socket"
else
    not_ok "vm ctl stop (status $ctl_status, berth status $status)"
    tap_diag "stderr: " <"$scratch/api-err"
fi

# The graceful way: the ACPI power button. A guest at busybox init's shell gets
# `vm ctl shutdown`; its power-button watcher runs `poweroff`, init shuts down in
# order, and berth exits 0.
timeout 300 "$BERTH" vm run --kernel "$kernel" --initrd "$initramfs" --api-socket "$api_socket" \
    --cmdline quiet >"$scratch/shutdown-out" 2>"$scratch/shutdown-err" </dev/null &
shutdown_pid=$!
wait_for "$scratch/shutdown-out" "$marker" 240 "$shutdown_pid"
sleep 2  # the shell's prompt: init has started
ctl shutdown shutdown
status=0
wait "$shutdown_pid" || status=$?
if [[ $ctl_status -eq 0 && $status -eq 0 && ! -e $api_socket ]] &&
    grep -q "berth-guest: power button pressed, shutting down" "$scratch/shutdown-out" &&
    in_json shutdown '"state":"running"'; then
    tap_ok "vm ctl shutdown: the guest sees its ACPI power button, powers off in order; berth exits 0"
else
    not_ok "vm ctl shutdown (status $ctl_status, berth status $status)"
    tap_diag "stdout: " <"$scratch/shutdown-out"
    tap_diag "stderr: " <"$scratch/shutdown-err"
fi

# Every answer vm ctl printed, against the spec.
cat >"$scratch/answers" <<EOF_BATCH
--validate${tab}GET${tab}/vm${tab}200${tab}$scratch/info.json
--validate${tab}PUT${tab}/vm/pause${tab}200${tab}$scratch/pause.json
--validate${tab}GET${tab}/vm/stats${tab}200${tab}$scratch/stats-paused.json
--validate${tab}PUT${tab}/vm/resume${tab}200${tab}$scratch/resume.json
--validate${tab}GET${tab}/vm/stats${tab}200${tab}$scratch/stats-running.json
--validate${tab}PUT${tab}/vm/stop${tab}200${tab}$scratch/stop.json
--validate${tab}PUT${tab}/vm/shutdown${tab}200${tab}$scratch/shutdown.json
EOF_BATCH
if api_batch "$scratch/answers" 2>"$scratch/batch.err"; then
    tap_ok "every answer of info, pause, stats, resume, stop and shutdown matches docs/api/openapi.yaml"
else
    not_ok "answers against docs/api/openapi.yaml: $(tr '\n' '|' <"$scratch/batch.err")"
fi
