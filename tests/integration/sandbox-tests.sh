# The VMM's per-thread seccomp sandbox (docs/sandbox.md) seen in a running VM, sourced
# by kvm-tests.sh after linux-tests.sh (uses its not_ok, $scratch, $kernel, $initramfs,
# $marker). Every other test of the kvm suite runs under seccomp too (on by default).
#
# One boot with every thread kind a Linux VM has: vCPUs, the workers of virtio-blk,
# virtio-rng, virtio-console and virtio-net, the console reader (the guest waits for a
# line on hvc0), libslirp's thread (--net user) and the API's. While it waits, every
# thread of berth must show "Seccomp: 2" (a filter) and its kind as its name; then the
# guest gets its line and powers off. BERTH_SANDBOX_BENCH=1 also times boots with
# --seccomp on against off (a ratio; docs/sandbox.md).
if [[ -z ${linux_guest_ready:-} ]]; then
    tap_skip "sandbox tests" "no Debian kernel in /boot or no initramfs (busybox-static)"
    return 0 2>/dev/null || exit 0
fi
sandbox_disk=$scratch/sandbox.img
truncate -s 4M "$sandbox_disk"
sandbox_socket=$scratch/sandbox.sock
sandbox_fifo=$scratch/sandbox.in
rm -f "$sandbox_fifo"
mkfifo "$sandbox_fifo"
# The guest script travels inside double quotes on the kernel command line: none in it.
sandbox_guest="
echo rng=\$(head -c 16 /dev/hwrng | wc -c)
echo sandbox-disk | dd of=/dev/vda bs=512 conv=sync,fsync 2>/dev/null && echo disk=written
echo net-\$(ip -4 addr show eth0 | grep -o 'inet [0-9./]*')
ping -c 1 -W 5 10.0.2.2 >/dev/null 2>&1; echo ping=done
echo sandbox-ready
read line
echo got-\$line
exit 0"
# The fifo's writer stays open on fd 7 (opened read-write, so that neither end blocks).
exec 7<>"$sandbox_fifo"
timeout 300 "$BERTH" vm run --kernel "$kernel" --initrd "$initramfs" --cpus 1 \
    --console hvc0 --disk "$sandbox_disk" --rng --net user --api-socket "$sandbox_socket" \
    --cmdline "quiet berth_run=\"$sandbox_guest\"" \
    <"$sandbox_fifo" >"$scratch/sandbox-out" 2>"$scratch/sandbox-err" &
sandbox_pid=$!
wait_for "$scratch/sandbox-out" sandbox-ready 240 "$sandbox_pid"
# berth's own pid: timeout runs it as its child.
berth_vm_pid=$(pgrep -P "$sandbox_pid" -x berth || true)
if ! grep -q sandbox-ready "$scratch/sandbox-out" || [[ -z $berth_vm_pid ]]; then
    not_ok "a guest with every device kind boots under seccomp"
    tap_diag "stdout: " <"$scratch/sandbox-out"
    tap_diag "stderr: " <"$scratch/sandbox-err"
    kill "$sandbox_pid" 2>/dev/null
    wait "$sandbox_pid" 2>/dev/null
    exec 7>&-
    return 0 2>/dev/null || exit 0
fi
# Every thread: its name (kind) and whether a filter binds it.
threads=$(for task in /proc/"$berth_vm_pid"/task/*; do
    printf '%s %s\n' "$(cat "$task/comm")" "$(awk '$1 == "Seccomp:" { print $2 }' "$task/status")"
done | sort)
unfiltered=$(awk '$2 != 2' <<<"$threads" | tr '\n' ' ')
kinds=$(awk '{ print $1 }' <<<"$threads" | sort -u | tr '\n' ' ')
# (The user-mode NIC's worker is net-user; a tap NIC's, virtio-net, runs in the bridge tests.)
want_kinds="api berth console-input net-user vcpu virtio-blk virtio-console virtio-rng "
if [[ -z $unfiltered && $kinds == "$want_kinds" ]]; then
    tap_ok "every thread of a running VM has its seccomp filter (Seccomp: 2): $kinds"
else
    not_ok "every thread of a running VM has its seccomp filter: unfiltered [$unfiltered], kinds [$kinds], want [$want_kinds]"
fi
ctl_status=0
timeout 60 "$BERTH" vm ctl "$sandbox_socket" info >"$scratch/sandbox-info.json" 2>&1 || ctl_status=$?
echo go >&7
wait "$sandbox_pid"
sandbox_status=$?
exec 7>&-
sandbox_has() { grep -qF -- "$1" "$scratch/sandbox-out"; }
if [[ $sandbox_status -eq 0 && $ctl_status -eq 0 ]] && sandbox_has rng=16 && sandbox_has disk=written &&
   sandbox_has "net-inet 10.0.2.15/24" && sandbox_has got-go && ! grep -q seccomp "$scratch/sandbox-err" &&
   grep -q '"state":"running"' "$scratch/sandbox-info.json" &&
   [[ $(head -c 12 "$sandbox_disk") == sandbox-disk ]]; then
    tap_ok "under seccomp: disk, rng, hvc0 input, --net user and the API work, and the guest powers off (status 0)"
else
    not_ok "under seccomp: disk, rng, hvc0 input, net user, API, poweroff (status $sandbox_status, ctl $ctl_status)"
    tap_diag "stdout: " <"$scratch/sandbox-out"
    tap_diag "stderr: " <"$scratch/sandbox-err"
    tap_diag "info: " <"$scratch/sandbox-info.json"
fi

# --seccomp off: the same machines without filters (the rest of the suite runs with them).
run_berth lesson 1 --seccomp off
if [[ $status -eq 0 ]] && grep -q "Hello from the berth guest firmware" "$scratch/out"; then
    tap_ok "berth lesson 1 --seccomp off runs the lesson unconfined"
else
    not_ok "berth lesson 1 --seccomp off (status $status)"
fi

if [[ ${BERTH_SANDBOX_BENCH:-0} == 1 ]]; then
    # Boot to the guest's exit, alternating --seccomp on and off; the exits counted too.
    declare -A boot_ms=([on]=0 [off]=0) boot_exits=([on]=0 [off]=0)
    rounds=${BERTH_SANDBOX_BENCH_ROUNDS:-3}
    for ((round = 0; round < rounds; round++)); do
        for mode in on off; do
            start=$(date +%s%N)
            boot_linux 1 'exit 0' --seccomp "$mode" --disk "$sandbox_disk" --rng --trace-exits
            boot_ms[$mode]=$((boot_ms[$mode] + ($(date +%s%N) - start) / 1000000))
            boot_exits[$mode]=$((boot_exits[$mode] + $(awk '/^VM exits:/ { print $3 }' "$scratch/err")))
        done
    done
    tap_diag "seccomp bench: " <<<"$rounds rounds: boot on ${boot_ms[on]} ms, off ${boot_ms[off]} ms, ratio $(awk -v a="${boot_ms[on]}" -v b="${boot_ms[off]}" 'BEGIN { printf "%.3f", a / b }'); exits on ${boot_exits[on]}, off ${boot_exits[off]}"
fi
