# Snapshot and restore (PUT /vm/snapshot, berth vm ctl SOCKET snapshot DIR, berth vm run
# --restore DIR; docs/snapshots.md), sourced by kvm-tests.sh after linux-tests.sh (uses
# its not_ok, $scratch, $kernel and $initramfs).
#
# One boot of a 2-vCPU guest with a disk serves every case. It writes random blocks to
# its disk and prints their checksum, starts a job that waits for a line on its console,
# and counts. It is snapshotted (after the API's error cases), and the snapshot is
# restored twice side by side, the first with the default --restore-memory working-set
# (its RAM mapped from the file; on Linux 6.10+ it records the working set that a third
# restore later pre-faults), the second copy with --restore-memory eager (its RAM
# copied, not mapped from the file): both copies must go on counting from the count
# where the original stopped, without booting. One copy is then given a line on its console: it
# reads its disk back (the same checksum) and writes the line to it, which must be in
# the host's file when it ends. The original is stopped before the copies start.
if [[ -z ${linux_guest_ready:-} ]]; then
    tap_skip "snapshot tests" "no Debian kernel in /boot or no initramfs (busybox-static)"
    return 0 2>/dev/null || exit 0
fi
snap_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
snap_spec=$snap_here/../../docs/api/openapi.yaml
snap_dir=$scratch/snapshot
snap_disk=$scratch/snap-disk.img
truncate -s 1M "$snap_disk"
# counts FILE: the last whole count=N line's N (console lines end in \r\n).
last_count() { grep -aoE '^count=[0-9]+'$'\r' "$1" | tail -n 1 | tr -dc 0-9; }
first_count() { grep -aoE '^count=[0-9]+'$'\r' "$1" | head -n 1 | tr -dc 0-9; }
# snap_ctl SOCKET COMMAND [ARG]: berth vm ctl, JSON in $scratch/ctl.json, status in $ctl_status.
snap_ctl() {
    ctl_status=0
    timeout 200 "$BERTH" vm ctl "$@" >"$scratch/ctl.json" 2>"$scratch/ctl.err" || ctl_status=$?
}
# The guest's script travels inside double quotes on the command line: none in it.
snap_guest='dd if=/dev/urandom of=/dev/vda bs=4096 count=16 conv=fsync 2>/dev/null
echo before=$(head -c 65536 /dev/vda | md5sum | cut -c1-32)
(read line </dev/console; echo got=$line; echo after=$(head -c 65536 /dev/vda | md5sum | cut -c1-32); echo $line | dd of=/dev/vda bs=4096 seek=32 conv=fsync 2>/dev/null && echo written=ok) &
i=0; while :; do echo count=$i; i=$((i+1)); sleep 0.3; done'
socket0=$scratch/snap0.sock
timeout 400 "$BERTH" vm run --kernel "$kernel" --initrd "$initramfs" --cpus 2 --memory 128M \
    --disk "$snap_disk" --api-socket "$socket0" --cmdline "quiet berth_run=\"$snap_guest\"" \
    >"$scratch/snap0.out" 2>"$scratch/snap0.err" </dev/null &
pid0=$!
if ! wait_for "$scratch/snap0.out" '^count=3' 240 "$pid0"; then
    not_ok "a 2-vCPU guest with a disk boots and counts, for snapshots"
    tap_diag "stdout: " <"$scratch/snap0.out"
    tap_diag "stderr: " <"$scratch/snap0.err"
    kill "$pid0" 2>/dev/null
    wait "$pid0" 2>/dev/null
    return 0 2>/dev/null || exit 0
fi
before=$(sed -n 's/^before=\([0-9a-f]*\).*/\1/p' "$scratch/snap0.out")

# Errors first, each answered with a JSON error and leaving the VM running: bodies that
# are not {"snapshot_path": ABSOLUTE}, a directory that is not empty, one that cannot be
# made (its parent is a file).
mkdir "$scratch/full" && echo x >"$scratch/full/x"
echo x >"$scratch/a-file"
tab=$'\t'
cat >"$scratch/snap-bad" <<EOF_BATCH
PUT${tab}/vm/snapshot${tab}{}${tab}--status${tab}400
PUT${tab}/vm/snapshot${tab}{"snapshot_path":"relative"}${tab}--status${tab}400
PUT${tab}/vm/snapshot${tab}{"snapshot_path":"/x","force":1}${tab}--status${tab}400
PUT${tab}/vm/snapshot${tab}not json${tab}--status${tab}400
PUT${tab}/vm/snapshot${tab}{"snapshot_path":"$scratch/full"}${tab}--status${tab}400
PUT${tab}/vm/snapshot${tab}{"snapshot_path":"$scratch/a-file/snap"}${tab}--status${tab}400
GET${tab}/vm/snapshot${tab}--status${tab}405
EOF_BATCH
if python3 "$snap_here/api_check.py" "$snap_spec" "$socket0" --batch "$scratch/snap-bad" \
        2>"$scratch/batch.err"; then
    tap_ok "snapshot errors: a bad body, a directory not empty or not creatable: 400 with a JSON error"
else
    not_ok "snapshot errors: $(tr '\n' '|' <"$scratch/batch.err")"
fi
snap_ctl "$socket0" info
running=$(last_count "$scratch/snap0.out")
sleep 1.5
if [[ $ctl_status -eq 0 && $(last_count "$scratch/snap0.out") -gt $running ]] &&
   grep -q '"state":"running"' "$scratch/ctl.json" && [[ ! -e $scratch/a-file/snap ]] &&
   [[ $(ls "$scratch/full") == x ]]; then
    tap_ok "a refused snapshot leaves the VM running and the directories as they were"
else
    not_ok "a refused snapshot leaves the VM running (status $ctl_status): $(cat "$scratch/ctl.json" "$scratch/ctl.err")"
fi

snap_ctl "$socket0" snapshot "$snap_dir"
saved=$(last_count "$scratch/snap0.out")
sleep 1.5
cp "$scratch/ctl.json" "$scratch/snapshot-answer.json"
memory_kib=$(du -k "$snap_dir/memory" 2>/dev/null | cut -f1)
if [[ $ctl_status -eq 0 && $(last_count "$scratch/snap0.out") == "$saved" && -s $snap_dir/state ]] &&
   grep -q '"state":"paused"' "$scratch/ctl.json" &&
   [[ $(stat -c %s "$snap_dir/memory") -eq $((128 << 20)) && $memory_kib -lt $((96 << 10)) ]] &&
   python3 "$snap_here/api_check.py" "$snap_spec" "$socket0" --validate PUT /vm/snapshot 200 \
       "$scratch/snapshot-answer.json" >/dev/null; then
    tap_ok "vm ctl snapshot: the VM stays paused at count $saved; memory is sparse ($memory_kib KiB of 128 MiB)"
else
    not_ok "vm ctl snapshot (status $ctl_status, count $saved then $(last_count "$scratch/snap0.out"), memory $memory_kib KiB): $(cat "$scratch/ctl.json" "$scratch/ctl.err")"
fi
snap_ctl "$socket0" stop
wait "$pid0" 2>/dev/null
memory_stamp=$(stat -c '%s %Y' "$snap_dir/memory" 2>/dev/null)

# Two copies side by side, each with its console on a FIFO the test holds open.
restore_copy() {  # NAME [FLAG...]: starts berth vm run --restore; sets pid_NAME
    local name=$1
    shift
    mkfifo "$scratch/$name.in"
    timeout 300 "$BERTH" vm run --restore "$snap_dir" --api-socket "$scratch/$name.sock" "$@" \
        <"$scratch/$name.in" >"$scratch/$name.out" 2>"$scratch/$name.err" &
    eval "pid_$name=$!"
}
restore_copy copy1
exec 7<>"$scratch/copy1.in"  # read-write: no SIGPIPE if the copy ended
restore_copy copy2 --restore-memory eager
exec 8<>"$scratch/copy2.in"
want=$((saved + 3))
ok=1
for copy in copy1 copy2; do
    pid_var=pid_$copy
    wait_for "$scratch/$copy.out" "^count=$want" 120 "${!pid_var}" || ok=0
done
# copy1 maps the memory file, copy2 (eager) only read it.
maps1=$(grep -c "$snap_dir/memory" "/proc/$(pgrep -P "$pid_copy1")/maps" 2>/dev/null)
maps2=$(grep -c "$snap_dir/memory" "/proc/$(pgrep -P "$pid_copy2")/maps" 2>/dev/null)
first1=$(first_count "$scratch/copy1.out")
first2=$(first_count "$scratch/copy2.out")
# The pause may fall after the guest printed count=N or while it printed it.
if ((ok)) && [[ $first1 == "$first2" ]] && ((first1 == saved || first1 == saved + 1)) &&
   ! grep -aq 'berth-guest: userspace ready' "$scratch/copy1.out" "$scratch/copy2.out" &&
   [[ $maps1 -ge 1 && $maps2 == 0 ]]; then
    tap_ok "two restores of one snapshot (default, eager) run side by side, both counting on from $first1 (saved at $saved), no boot"
else
    not_ok "two restores count on from the snapshot (saved $saved; first counts $first1 and $first2; memory file mappings $maps1 and $maps2)"
    { head -c 600 "$scratch/copy1.out"; cat "$scratch/copy1.err"; } | tap_diag "copy1: "
    { head -c 600 "$scratch/copy2.out"; cat "$scratch/copy2.err"; } | tap_diag "copy2: "
fi

snap_ctl "$scratch/copy1.sock" info
if [[ $ctl_status -eq 0 ]] && grep -q '"state":"running"' "$scratch/ctl.json" &&
   grep -q '"vcpus":2' "$scratch/ctl.json" && grep -q 'virtio-blk' "$scratch/ctl.json"; then
    tap_ok "a restored VM serves its API: running, 2 vCPUs, its disk"
else
    not_ok "a restored VM's API info (status $ctl_status): $(cat "$scratch/ctl.json" "$scratch/ctl.err")"
fi

# The console and the disk of a restored guest: copy1 reads a line and its disk.
echo restored-line >&7
wait_for "$scratch/copy1.out" '^written=ok' 60 "$pid_copy1"
after=$(sed -n 's/^after=\([0-9a-f]*\).*/\1/p' "$scratch/copy1.out")
if grep -aq '^got=restored-line' "$scratch/copy1.out" && [[ -n $before && $after == "$before" ]] &&
   grep -aq '^written=ok' "$scratch/copy1.out"; then
    tap_ok "a restored guest reads its console and its disk (checksum $before as before the snapshot)"
else
    not_ok "a restored guest reads its console and disk (before $before, after $after)"
    { tail -c 600 "$scratch/copy1.out"; cat "$scratch/copy1.err"; } | tap_diag "copy1: "
fi
for copy in copy1 copy2; do
    snap_ctl "$scratch/$copy.sock" stop
done
exec 7>&- 8>&-
status1=0 status2=0
wait "$pid_copy1" || status1=$?
wait "$pid_copy2" || status2=$?
if [[ $status1 -eq 0 && $status2 -eq 0 ]] &&
   dd if="$snap_disk" bs=4096 skip=32 count=1 status=none | grep -aq '^restored-line' &&
   [[ $(stat -c '%s %Y' "$snap_dir/memory") == "$memory_stamp" ]]; then
    tap_ok "the restored guest's write is in the disk file; the snapshot's memory file is unchanged"
else
    not_ok "after the restores (status $status1 $status2; memory $memory_stamp -> $(stat -c '%s %Y' "$snap_dir/memory"))"
fi

# The working set (docs/snapshots.md): copy1 (the default --restore-memory working-set)
# ran for more than a second, so on a kernel with KVM_PRE_FAULT_MEMORY (6.10+) it wrote
# DIR/working-set; on an older one a restore is lazy as before and writes nothing. A
# third restore then maps that working set into KVM before its guest runs (berth's
# phase mark says so) and counts on as the copies did, leaving the file as it was.
# Either way no temporary file is left behind.
kernel_version=$(uname -r)
IFS=. read -r kv_major kv_minor _ <<<"${kernel_version%%-*}"
if ((kv_major > 6 || (kv_major == 6 && kv_minor >= 10))); then pre_fault_kernel=1; else pre_fault_kernel=0; fi
ws_file=$snap_dir/working-set
ws_leftovers=$(find "$snap_dir" -name '.working-set.berth-*' | wc -l)
ws_magic=$(head -c 8 "$ws_file" 2>/dev/null)
ws_stamp=$(stat -c '%s %Y' "$ws_file" 2>/dev/null)
mkfifo "$scratch/copy3.in"
BERTH_PHASES=$scratch/copy3.phases timeout 300 "$BERTH" vm run --restore "$snap_dir" \
    <"$scratch/copy3.in" >"$scratch/copy3.out" 2>"$scratch/copy3.err" &
pid_copy3=$!
exec 7<>"$scratch/copy3.in"
copy3_ok=0
wait_for "$scratch/copy3.out" "^count=$((saved + 3))" 120 "$pid_copy3" && copy3_ok=1
first3=$(first_count "$scratch/copy3.out")
kill "$pid_copy3" 2>/dev/null
wait "$pid_copy3" 2>/dev/null
exec 7>&-
counted_on=0
((copy3_ok)) && ((first3 == saved || first3 == saved + 1)) &&
    ! grep -aq 'berth-guest: userspace ready' "$scratch/copy3.out" && counted_on=1
if ((pre_fault_kernel)); then
    if ((counted_on)) && [[ $ws_magic == BERTHWKS && $ws_leftovers -eq 0 ]] &&
       grep -q '^working_set_pre_faulted ' "$scratch/copy3.phases" &&
       [[ $(stat -c '%s %Y' "$ws_file") == "$ws_stamp" ]] && ! grep -q 'working set' "$scratch/copy3.err"; then
        tap_ok "kernel $kernel_version: the first restore recorded the working set ($(stat -c %s "$ws_file") bytes); the next pre-faults it and counts on from $first3"
    else
        not_ok "kernel $kernel_version: working set recorded and pre-faulted (magic '$ws_magic', $ws_leftovers temporary files, first count $first3, marks $(tr '\n' ' ' <"$scratch/copy3.phases" 2>/dev/null))"
        { tail -c 400 "$scratch/copy3.out"; cat "$scratch/copy3.err"; } | tap_diag "copy3: "
    fi
else
    if ((counted_on)) && [[ ! -e $ws_file && $ws_leftovers -eq 0 ]] &&
       ! grep -q 'working set' "$scratch/copy1.err" "$scratch/copy3.err" &&
       ! grep -q '^working_set' "$scratch/copy3.phases"; then
        tap_ok "kernel $kernel_version (no KVM_PRE_FAULT_MEMORY): restores stay lazy, record no working set, say nothing"
    else
        not_ok "kernel $kernel_version: a restore without pre-faulting is lazy as before (working set file: $(ls "$ws_file" 2>&1), $ws_leftovers temporary files, first count $first3)"
        { tail -c 400 "$scratch/copy3.out"; cat "$scratch/copy3.err"; } | tap_diag "copy3: "
    fi
fi
# A damaged working-set file (on any kernel: it is checked before KVM opens): one line
# naming it, status 2; --restore-memory lazy does not read it.
[[ -e $ws_file ]] && cp "$ws_file" "$scratch/working-set.saved"
{ printf BERTHWKS; head -c 30 /dev/urandom; } >"$ws_file"
status=0
timeout 60 "$BERTH" vm run --restore "$snap_dir" >"$scratch/out" 2>"$scratch/err" </dev/null ||
    status=$?
lazy_status=0
timeout 120 "$BERTH" vm run --restore "$snap_dir" --restore-memory lazy --api-socket "$scratch/lazy.sock" \
    >"$scratch/lazy.out" 2>"$scratch/lazy.err" </dev/null &
pid_lazy=$!
wait_for "$scratch/lazy.out" "^count=$((saved + 2))" 90 "$pid_lazy" || lazy_status=1
snap_ctl "$scratch/lazy.sock" stop
wait "$pid_lazy" 2>/dev/null
if [[ $status -eq 2 && $(wc -l <"$scratch/err") -eq 1 && $lazy_status -eq 0 ]] &&
   grep -q "snapshot working-set file $ws_file: " "$scratch/err"; then
    tap_ok "a damaged working-set file: one line naming it, status 2; --restore-memory lazy ignores it"
else
    not_ok "a damaged working-set file (status $status, lazy restore $lazy_status): $(cat "$scratch/err")"
fi
rm -f "$ws_file"
[[ -e $scratch/working-set.saved ]] && mv "$scratch/working-set.saved" "$ws_file"

# A disk that changed since the snapshot: one line, status 2, before KVM.
truncate -s 2M "$snap_disk"
status=0
timeout 60 "$BERTH" vm run --restore "$snap_dir" >"$scratch/out" 2>"$scratch/err" </dev/null ||
    status=$?
if [[ $status -eq 2 && $(wc -l <"$scratch/err") -eq 1 ]] && grep -q "disk $snap_disk is" "$scratch/err"; then
    tap_ok "restoring with a disk that changed size: one line naming the disk, status 2"
else
    not_ok "restoring with a changed disk (status $status)"
fi

# A snapshot taken during heavy disk I/O restores with the data the guest flushed. A
# 1-vCPU guest writes 256 KiB rounds to its disk without a pause, each round i filled
# with "round-i" and flushed (conv=fsync) before it prints flushed=i. It is snapshotted
# while it writes and stopped: every round it said was flushed must be in the disk file.
# The restored copy writes on from where it was; given a console line it stops writing,
# drops its page cache and reads the rounds back from the disk: all it said were flushed
# must be whole, and in the file once it ends.
io_disk=$scratch/snap-io.img
io_dir=$scratch/snapshot-io
truncate -s 32M "$io_disk"
io_guest='w() { i=0; while [ $i -lt 120 ] && [ ! -e /stop-writer ]; do yes round-$i | head -c 262144 | dd of=/dev/vda bs=65536 seek=$((i*4)) conv=fsync 2>/dev/null || break; echo flushed=$i; i=$((i+1)); done; }
w & writer=$!
read line </dev/console; touch /stop-writer; wait $writer; echo 3 >/proc/sys/vm/drop_caches
i=0; while [ $i -lt 120 ] && [ $(dd if=/dev/vda bs=65536 skip=$((i*4)) count=4 2>/dev/null | md5sum | cut -c1-32) = $(yes round-$i | head -c 262144 | md5sum | cut -c1-32) ]; do i=$((i+1)); done; echo verified=$i'
# last_flushed FILE: the last whole flushed=N line's N, or -1.
last_flushed() { { grep -aoE '^flushed=[0-9]+'$'\r' "$1" || echo 'flushed=-1'; } | tail -n 1 | tr -dc 0-9-; }
# rounds_in_file COUNT: whether rounds 0..COUNT-1 are whole in the disk file.
rounds_in_file() {
    python3 - "$io_disk" "$1" <<'PY'
import sys
disk, count = sys.argv[1], int(sys.argv[2])
with open(disk, "rb") as f:
    for i in range(count):
        f.seek(i * 262144)
        want = (f"round-{i}\n".encode() * 262144)[:262144]
        if f.read(262144) != want:
            sys.exit(f"round {i} is not whole in the disk file")
PY
}
sockio=$scratch/snapio.sock
timeout 400 "$BERTH" vm run --kernel "$kernel" --initrd "$initramfs" --memory 128M \
    --disk "$io_disk" --api-socket "$sockio" --cmdline "quiet berth_run=\"$io_guest\"" \
    >"$scratch/snapio.out" 2>"$scratch/snapio.err" </dev/null &
pidio=$!
if wait_for "$scratch/snapio.out" '^flushed=2' 240 "$pidio"; then
    snap_ctl "$sockio" snapshot "$io_dir"
    io_status=$ctl_status
    flushed_before=$(last_flushed "$scratch/snapio.out")
    snap_ctl "$sockio" stop
    wait "$pidio" 2>/dev/null
    mkfifo "$scratch/copyio.in"
    timeout 300 "$BERTH" vm run --restore "$io_dir" <"$scratch/copyio.in" \
        >"$scratch/copyio.out" 2>"$scratch/copyio.err" &
    pid_copyio=$!
    # Read-write: a copy that has already ended must not make `echo >&7` kill this
    # shell with SIGPIPE (a CI run lost the rest of the suite to that).
    exec 7<>"$scratch/copyio.in"
    first_after=$(( flushed_before + 1 ))
    wait_for "$scratch/copyio.out" "^flushed=$((flushed_before + 2))"$'\r' 120 "$pid_copyio"
    echo verify >&7
    wait_for "$scratch/copyio.out" '^verified=' 120 "$pid_copyio"
    flushed_after=$(last_flushed "$scratch/copyio.out")
    verified=$(sed -n 's/^verified=\([0-9]*\).*/\1/p' "$scratch/copyio.out")
    exec 7>&-
    # The guest ends by itself after verified=; a copy that did not is stopped.
    sleep 1
    kill "$pid_copyio" 2>/dev/null
    wait "$pid_copyio" 2>/dev/null
    # It goes on with the next round (the one after a line cut by the pause).
    first_io=$(grep -aoE '^flushed=[0-9]+'$'\r' "$scratch/copyio.out" | head -n 1 | tr -dc 0-9)
    if [[ $io_status -eq 0 && $flushed_before -ge 2 ]] && rounds_in_file $((flushed_before + 1)) &&
       [[ -n $verified && -n $first_io && $flushed_after -gt $flushed_before ]] &&
       ((first_io == first_after || first_io == first_after + 1)) &&
       ((verified >= flushed_after + 1)) && rounds_in_file "$verified" &&
       ! grep -aq 'berth-guest: userspace ready' "$scratch/copyio.out"; then
        tap_ok "a snapshot during heavy disk I/O: rounds 0-$flushed_before flushed before it are in the file; the restored guest wrote on to $flushed_after and read $verified whole rounds back"
    else
        not_ok "a snapshot during heavy disk I/O (snapshot status $io_status, flushed $flushed_before before, $flushed_after after, verified '$verified')"
        # (pipes, not process substitution: the rig has no /dev/fd)
        { tail -c 400 "$scratch/snapio.out"; cat "$scratch/snapio.err"; } | tap_diag "original: "
        { tail -c 600 "$scratch/copyio.out"; cat "$scratch/copyio.err"; } | tap_diag "copy: "
        rounds_in_file $((flushed_before + 1)) 2>&1 | tap_diag "disk file: "
    fi
else
    not_ok "a guest writing its disk boots, for a snapshot during I/O"
    { tail -c 600 "$scratch/snapio.out"; cat "$scratch/snapio.err"; } | tap_diag "stdout: "
    kill "$pidio" 2>/dev/null
    wait "$pidio" 2>/dev/null
fi
