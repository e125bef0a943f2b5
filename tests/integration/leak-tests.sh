# VM runs leave nothing behind (issue 18): sourced by kvm-tests.sh after linux-tests.sh
# (uses its not_ok, run_berth, $scratch, $kernel, $initramfs, $BERTH_FIRMWARE_DIR).
#
# 1. Inside one berth: a Linux guest with a disk, an rng, hvc0, --net user and
#    --api-socket reboots under --reboot restart; each boot builds the machine afresh
#    (KVM, memory, devices, threads, sockets), so berth's open fds and threads at the
#    same point of every boot must be the same numbers. BERTH_LEAK_BOOTS boots (3).
# 2. Across runs: BERTH_LEAK_RUNS runs in a row (20; the slow suite gives 100) of the
#    firmware machine (vm run and lesson), with the Linux run above among them; after
#    them no berth process, tap device, temporary file or directory, API socket file or
#    mount is left, and this shell holds the same fds as before.
# 3. With a NIC (issue 14): BERTH_LEAK_RUNS runs with --net bridge, as many with
#    --net user and (where /dev/vhost-net is) with --net bridge,vhost=on, of a guest that ends at once: the Multiboot kernel multiboot-info,
#    a fraction of a second, where a Linux boot takes 15-20 s in the rig. Each run
#    still makes the whole back end and takes it down (a tap on berth0 and its address
#    lease, or libslirp's state; the NIC's worker threads; the device's fds; the
#    vhost fd and the kernel's vhost worker). After them no tap or lease is left, and the host's user-space threads, open fds and
#    sockets are the numbers they were before. (The Linux boots of part 1 and of
#    net-tests.sh and bridge-tests.sh drive the NIC, DHCP included.)
if [[ -z ${linux_guest_ready:-} ]]; then
    tap_skip "leak tests" "no Debian kernel in /boot or no initramfs (busybox-static)"
    return 0 2>/dev/null || exit 0
fi
leak_boots=${BERTH_LEAK_BOOTS:-3}
leak_runs=${BERTH_LEAK_RUNS:-20}
tmp_dir=$(dirname "$(mktemp -u)")
host_state() {
    echo "berth processes: $(pgrep -x berth | wc -l)"
    echo "links: $(ip -o link show | awk -F': ' '{ print $2 }' | sort | tr '\n' ' ')"
    echo "mounts: $(wc -l </proc/self/mountinfo)"
    echo "temporary: $(ls -a "$tmp_dir" | grep -c '^berth' || true)"
    echo "shell fds: $(ls /proc/$$/fd | sort -n | tr '\n' ' ')"
    echo "leases: $(ls /run/berth/net 2>/dev/null | tr '\n' ' ')"
    echo "vhost workers: $(pgrep -c '^vhost-' || true)"  # kernel threads, one per owner
    # Every user-space process's threads and fds (kernel threads have no memory map),
    # and the kernel's sockets in use: what a helper or thread left running would hold.
    # Listed to files first: a pipe's second process may or may not have started when
    # the first one lists, and would be counted some times only.
    ps -e -o vsz=,nlwp= >"$scratch/leak-ps"
    echo "user threads: $(awk '$1 > 0 { n += $2 } END { print n }' "$scratch/leak-ps")"
    ls -d /proc/[0-9]*/fd/* >"$scratch/leak-fd-list" 2>/dev/null
    echo "user fds: $(wc -l <"$scratch/leak-fd-list")"
    grep '^sockets:' /proc/net/sockstat
}
host_state >"$scratch/leak-before"

# --- 1. one berth, several boots -----------------------------------------------------
leak_disk=$scratch/leak.img
truncate -s 1M "$leak_disk"
leak_socket=$scratch/leak.sock
leak_fifo=$scratch/leak.in
rm -f "$leak_fifo"
mkfifo "$leak_fifo"
# The boot count lives on the disk: boot N prints "leak-boot=N", waits for a line on
# its console, then reboots, until the last boot powers off.
leak_guest="
n=\$(head -c 8 /dev/vda | tr -dc 0-9); n=\$((\${n:-0} + 1))
printf '%08d' \$n | dd of=/dev/vda conv=fsync 2>/dev/null
head -c 16 /dev/hwrng >/dev/null
echo leak-boot=\$n
read line
[ \$n -ge $leak_boots ] && exit 0
reboot -f; sleep 30"
exec 8<>"$leak_fifo"
timeout $((150 * leak_boots)) "$BERTH" vm run --kernel "$kernel" --initrd "$initramfs" \
    --console hvc0 --disk "$leak_disk" --rng --net user --api-socket "$leak_socket" \
    --reboot restart --cmdline "quiet berth_run=\"$leak_guest\"" \
    <"$leak_fifo" >"$scratch/leak-out" 2>"$scratch/leak-err" &
leak_pid=$!
leak_counts=()
for ((boot = 1; boot <= leak_boots; boot++)); do
    wait_for "$scratch/leak-out" "leak-boot=$boot" 150 "$leak_pid"
    berth_vm_pid=$(pgrep -P "$leak_pid" -x berth || true)
    if [[ -z $berth_vm_pid ]] || ! grep -q "leak-boot=$boot" "$scratch/leak-out"; then
        break
    fi
    # The API thread answers once the vCPUs run; every thread has started by then.
    timeout 30 "$BERTH" vm ctl "$leak_socket" info >/dev/null 2>&1
    leak_counts+=("fds=$(ls /proc/"$berth_vm_pid"/fd | wc -l) threads=$(ls /proc/"$berth_vm_pid"/task | wc -l)")
    # What each fd is, for the diagnostics: kinds of file, not their changing inode numbers.
    for fd in /proc/"$berth_vm_pid"/fd/*; do
        readlink "$fd" | sed 's/:\[[0-9]*\]$//'
    done | sort >"$scratch/leak-fds-$boot"
    echo "boot $boot" >&8
done
wait "$leak_pid"
leak_status=$?
exec 8>&-
distinct=$(printf '%s\n' "${leak_counts[@]}" | sort -u | wc -l)
if [[ $leak_status -eq 0 && ${#leak_counts[@]} -eq $leak_boots && $distinct -eq 1 ]]; then
    tap_ok "$leak_boots boots in one berth (--reboot restart) hold the same fds and threads: ${leak_counts[0]}"
elif [[ $leak_status -eq 0 && ${#leak_counts[@]} -eq $leak_boots ]]; then
    # (Its first rig runs found 2 fds more per boot: the kernel and initrd, read again
    # at each boot, were remembered as inputs of the run each time, with a descriptor.)
    not_ok "$leak_boots boots in one berth hold the same fds and threads: ${leak_counts[*]}"
    diff "$scratch/leak-fds-1" "$scratch/leak-fds-$leak_boots" | sed 's/^/# fds: /'
else
    not_ok "$leak_boots boots in one berth hold the same fds and threads (status $leak_status): ${leak_counts[*]}"
    tap_diag "stdout: " <"$scratch/leak-out"
    tap_diag "stderr: " <"$scratch/leak-err"
fi
if [[ ! -e $leak_socket ]]; then
    tap_ok "the API socket file is gone after the run"
else
    not_ok "the API socket file is gone after the run"
fi

# --- 2. many runs in a row -----------------------------------------------------------
failed_runs=0
for ((run = 1; run < leak_runs; run++)); do
    if ((run % 2 == 0)); then
        run_berth lesson 1
    else
        run_berth vm run --firmware "$BERTH_FIRMWARE_DIR/hello.bin"
    fi
    [[ $status -eq 0 ]] || failed_runs=$((failed_runs + 1))
done
host_state >"$scratch/leak-after"
if [[ $failed_runs -eq 0 ]] && cmp -s "$scratch/leak-before" "$scratch/leak-after"; then
    tap_ok "$leak_runs VM runs in a row leave no process, tap, mount, temporary file or fd behind"
else
    not_ok "$leak_runs VM runs in a row leave nothing behind ($failed_runs failed runs)"
    diff "$scratch/leak-before" "$scratch/leak-after" | sed 's/^/# diff: /'
fi

# --- 3. many runs with a NIC -----------------------------------------------------------
if [[ $(id -u) -ne 0 ]]; then
    tap_skip "$leak_runs runs with --net bridge and --net user" "needs root (a tap on berth0)"
    return 0 2>/dev/null || exit 0
fi
rig_modules tun bridge
# berth0 may not exist yet: one run makes it (it stays, as docker0 does), then count.
leak_kernel=$BERTH_FIRMWARE_DIR/multiboot-info-elf64.elf
run_berth vm run --kernel "$leak_kernel" --memory 24M --debug-exit 0xf4 --net bridge
host_state >"$scratch/leak-before"
leak_nets=(bridge user)
# vhost-net: the kernel's worker thread and the vhost fd must go too.
[[ -c /dev/vhost-net ]] && leak_nets+=(bridge,vhost=on)
for net in "${leak_nets[@]}"; do
    failed_runs=0
    first_failure=
    started=$SECONDS
    for ((run = 1; run <= leak_runs; run++)); do
        # multiboot-info ends through QEMU's debug-exit port: status (0x21 << 1) | 1.
        run_berth vm run --kernel "$leak_kernel" --memory 24M --debug-exit 0xf4 --net "$net"
        if [[ $status -ne 67 ]]; then
            failed_runs=$((failed_runs + 1))
            [[ -n $first_failure ]] || first_failure="status $status: $(tail -n 1 "$scratch/err")"
        fi
    done
    host_state >"$scratch/leak-after"
    if [[ $failed_runs -eq 0 ]] && cmp -s "$scratch/leak-before" "$scratch/leak-after"; then
        tap_ok "$leak_runs VM runs with --net $net leave no tap, lease, process, thread, fd or socket behind ($((SECONDS - started)) s)"
    else
        not_ok "$leak_runs VM runs with --net $net leave nothing behind ($failed_runs failed runs${first_failure:+; first: $first_failure})"
        diff "$scratch/leak-before" "$scratch/leak-after" | sed 's/^/# diff: /'
    fi
done
