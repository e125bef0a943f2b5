# Durability under SIGKILL at random moments (issue 18), sourced by kvm-tests.sh after
# linux-tests.sh (uses its not_ok, $scratch, $kernel, $initramfs).
#
# The guest writes numbered 512-byte records to its disk, one sector each, every one
# flushed (dd conv=fsync: a virtio-blk flush) before it prints "flushed=N."; berth is
# killed with SIGKILL at a random moment while it writes. Every record the guest said
# was flushed (and whose line reached berth's stdout) must then be in the image: raw
# images and qcow2 images in turn (qcow2 read back by qemu-img, which must find no
# corruption; leaked clusters are allowed). BERTH_KILL_RUNS runs (2 here; the slow suite gives 100).
if [[ -z ${linux_guest_ready:-} ]]; then
    tap_skip "durability tests" "no Debian kernel in /boot or no initramfs (busybox-static)"
    return 0 2>/dev/null || exit 0
fi
kill_runs=${BERTH_KILL_RUNS:-2}
# The guest script travels inside double quotes on the kernel command line: none in it.
kill_guest="
i=1
while [ \$i -lt 16000 ]; do
    printf 'berth record %08d' \$i | dd of=/dev/vda bs=512 seek=\$i conv=sync,fsync 2>/dev/null || exit 1
    echo flushed=\$i.
    i=\$((i + 1))
done"
# check_records IMAGE LAST: records 1..LAST are in the raw IMAGE, each in its sector.
check_records() {
    python3 - "$1" "$2" <<'PY'
import sys
path, last = sys.argv[1], int(sys.argv[2])
with open(path, "rb") as f:
    data = f.read((last + 1) * 512)
for i in range(1, last + 1):
    want = b"berth record %08d" % i
    if data[i * 512:i * 512 + len(want)] != want:
        print("record %d of %d is missing" % (i, last))
        sys.exit(1)
PY
}
kill_failures=()
kill_flushed=()
have_qemu_img=$(command -v qemu-img || true)
for ((run = 1; run <= kill_runs; run++)); do
    format=raw
    [[ -n $have_qemu_img && $((run % 2)) -eq 0 ]] && format=qcow2
    image=$scratch/records.$format
    rm -f "$image"
    if [[ $format == qcow2 ]]; then
        qemu-img create -q -f qcow2 "$image" 16M
    else
        truncate -s 16M "$image"
    fi
    # Without `timeout`, so that the SIGKILL reaches berth itself; the loop bounds it.
    "$BERTH" vm run --kernel "$kernel" --initrd "$initramfs" --disk "$image,format=$format" \
        --cmdline "quiet berth_run=\"$kill_guest\"" \
        >"$scratch/kill-out" 2>"$scratch/kill-err" </dev/null &
    kill_pid=$!
    for ((i = 0; i < 1500; ++i)); do
        grep -q 'flushed=1\.' "$scratch/kill-out" && break
        kill -0 "$kill_pid" 2>/dev/null || break
        sleep 0.1
    done
    # A random moment in the next 0-3 s of writing.
    sleep "$((RANDOM % 30 / 10)).$((RANDOM % 10))"
    kill -KILL "$kill_pid" 2>/dev/null
    kill_status=0
    wait "$kill_pid" 2>/dev/null || kill_status=$?
    last=$(grep -ao 'flushed=[0-9]*\.' "$scratch/kill-out" | tail -n 1 | tr -dc 0-9)
    kill_flushed+=("${last:-0}")
    # A line a run: the slow suite's 100 runs would otherwise leave the rig's console
    # silent for longer than its hang watchdog waits.
    echo "# kill run $run of $kill_runs ($format): ${last:-0} records flushed"
    raw=$image
    if [[ $format == qcow2 ]]; then
        raw=$scratch/records.qcow2.raw
        # Status 3 is leaked clusters only (space, not data: an allocation the kill
        # cut short); 2 would be corruption.
        check_status=0
        qemu-img check -q "$image" >"$scratch/kill-check" 2>&1 || check_status=$?
        if [[ $check_status -ne 0 && $check_status -ne 3 ]] ||
           ! qemu-img convert -O raw "$image" "$raw"; then
            kill_failures+=("run $run ($format): qemu-img: $(head -c 200 "$scratch/kill-check")")
            continue
        fi
    fi
    if [[ $kill_status -ne 137 || -z $last ]]; then
        kill_failures+=("run $run ($format): status $kill_status, ${last:-no} records flushed")
    elif ! result=$(check_records "$raw" "$last"); then
        kill_failures+=("run $run ($format): $result")
    fi
done
if ((${#kill_failures[@]} == 0)); then
    tap_ok "$kill_runs kill -9s at random moments: every record the guest flushed is on disk (flushed: ${kill_flushed[*]})"
else
    not_ok "kill -9 at random moments loses flushed records: ${kill_failures[*]}"
    tap_diag "stderr: " <"$scratch/kill-err"
fi
