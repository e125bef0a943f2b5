# virtio-pci devices seen by a real guest, sourced by kvm-tests.sh after linux-tests.sh
# (uses its not_ok and $scratch, and boot_linux/has/$marker from linux-tests.sh).
# One boot with four devices checks reading, writing, read-only disks and the rng;
# a second one checks that data the guest flushed survives kill -9 of berth.
if [[ -z ${linux_guest_ready:-} ]]; then
    tap_skip "virtio-pci guest tests" "no Debian kernel in /boot or no initramfs (busybox-static)"
    return 0 2>/dev/null || exit 0
fi

# A 64 MiB disk of random bytes whose checksum the guest must reproduce, a small
# read-only disk with a known first sector, a blank disk the guest writes a pattern to.
head -c $((64 << 20)) /dev/urandom >"$scratch/random.img"
want_md5=$(md5sum <"$scratch/random.img" | cut -d' ' -f1)
printf 'berth read-only disk\n' | dd of="$scratch/ro.img" bs=512 conv=sync status=none
truncate -s 1M "$scratch/ro.img"
truncate -s 16M "$scratch/blank.img"

# Guest side: vda = random (ro), vdb = ro.img (ro), vdc = blank.img (rw).
# The pattern: 4 MiB of "berth-pattern-NNNNNN" lines written at 1 MiB into vdc.
# The script travels on the kernel command line inside double quotes: it must not
# contain any (busybox seq has no -f, hence seq -w and sed).
guest='
echo md5=$(md5sum </dev/vda | cut -c1-32)
echo vdb-ro=$(cat /sys/block/vdb/ro)
head -c 20 /dev/vdb | grep -q berth.read-only.disk && echo vdb-read=ok
if echo x | dd of=/dev/vdb bs=512 count=1 conv=fsync 2>/dev/null; then echo vdb-write=accepted; else echo vdb-write=refused; fi
echo rng-bytes=$(head -c 64 /dev/hwrng | wc -c)
echo rng-current=$(cat /sys/class/misc/hw_random/rng_current)
seq -w 0 199999 | sed s/^/berth-pattern-/ | head -c 4194304 | dd of=/dev/vdc bs=1M seek=1 conv=fsync 2>/dev/null && echo vdc-written=ok
exit 0'
boot_linux 1 "$guest" --disk "$scratch/random.img,ro" --disk "$scratch/ro.img,ro" \
    --disk "$scratch/blank.img" --rng
if [[ $status -eq 0 ]] && has "md5=$want_md5"; then
    tap_ok "the guest reads a 64 MiB virtio-blk disk with a matching checksum"
else
    not_ok "the guest reads a 64 MiB virtio-blk disk with a matching checksum (status $status, want $want_md5)"
fi
if has "vdb-ro=1" && has "vdb-read=ok" && has "vdb-write=refused"; then
    tap_ok "a ,ro disk is read-only in the guest: readable, writes refused"
else
    not_ok "a ,ro disk is read-only in the guest: readable, writes refused"
fi
# (Files, not <(...): the rig has no /dev/fd for process substitution.)
printf 'berth read-only disk\n' | dd of="$scratch/ro.want" bs=512 conv=sync status=none
truncate -s 1M "$scratch/ro.want"
if cmp -s "$scratch/ro.want" "$scratch/ro.img"; then
    tap_ok "the read-only disk's bytes are unchanged on the host"
else
    not_ok "the read-only disk's bytes are unchanged on the host"
fi
if has "rng-bytes=64" && has "rng-current=virtio_rng"; then
    tap_ok "virtio-rng is the guest's hardware rng and gives bytes"
else
    not_ok "virtio-rng is the guest's hardware rng and gives bytes"
fi
seq -w 0 199999 | sed s/^/berth-pattern-/ | head -c 4194304 >"$scratch/pattern.want"
dd if="$scratch/blank.img" of="$scratch/pattern.got" bs=1M skip=1 count=4 status=none
if has "vdc-written=ok" && cmp -s "$scratch/pattern.want" "$scratch/pattern.got" &&
   [[ $(head -c 1048576 "$scratch/blank.img" | tr -d '\0' | wc -c) -eq 0 ]]; then
    tap_ok "a pattern the guest wrote to a disk is on the host file, in place, after poweroff"
else
    not_ok "a pattern the guest wrote to a disk is on the host file, in place, after poweroff"
fi

# --trace-exits and --trace attribute the guest's MMIO exits (its virtio-pci drivers'
# BAR accesses) to the virtio-pci functions by name, as they do for the lessons' devices.
boot_linux 1 'exit 0' --rng --disk "$scratch/ro.img,ro" --trace-exits --trace "$scratch/pci-trace.json"
mmio_total=$(awk '$1 == "MMIO" { print $2; exit }' "$scratch/err")
rng_rows=$(awk '$1 ~ /^0xe/ && $4 == "virtio-rng"' "$scratch/err" | wc -l)
blk_rows=$(grep -c '^  0xe[0-9a-f]* .* virtio-blk (ro.img)$' "$scratch/err")
if [[ $status -eq 0 && ${mmio_total:-0} -gt 0 && $rng_rows -gt 0 && $blk_rows -gt 0 ]] &&
   python3 - "$scratch/pci-trace.json" "$mmio_total" <<'PY'
import json, sys
events = json.load(open(sys.argv[1]))["traceEvents"]
mmio = [e for e in events if e.get("ph") == "X" and e["args"]["reason"] == "MMIO"]
assert len(mmio) == int(sys.argv[2]), (len(mmio), sys.argv[2])
devices = {e["args"]["device"] for e in mmio}
assert {"virtio-rng", "virtio-blk (ro.img)"} <= devices, devices
PY
then
    tap_ok "--trace-exits and --trace name the virtio-pci function behind each MMIO exit ($mmio_total exits)"
else
    not_ok "--trace-exits and --trace name the virtio-pci function behind each MMIO exit (status $status, mmio=$mmio_total rng_rows=$rng_rows blk_rows=$blk_rows)"
fi

# Flush means durable: the guest writes with fsync (a virtio-blk flush), says so, and
# berth is killed with SIGKILL before it can tidy anything up.
truncate -s 8M "$scratch/durable.img"
# berth runs in the background without `timeout` so that the SIGKILL reaches berth
# itself; the wait loop bounds the test instead.
status=0
"$BERTH" vm run --kernel "$kernel" --initrd "$initramfs" --disk "$scratch/durable.img" \
    --cmdline 'quiet berth_run="seq -w 0 99999 | sed s/^/berth-durable-/ | head -c 1048576 | dd of=/dev/vda conv=fsync 2>/dev/null && echo flushed-ok; sleep 600"' \
    >"$scratch/out" 2>"$scratch/err" </dev/null &
berth_pid=$!
for ((i = 0; i < 1500; ++i)); do
    has flushed-ok && break
    kill -0 "$berth_pid" 2>/dev/null || break
    sleep 0.1
done
kill -KILL "$berth_pid" 2>/dev/null
wait "$berth_pid" 2>/dev/null || status=$?
seq -w 0 99999 | sed s/^/berth-durable-/ | head -c 1048576 >"$scratch/durable.want"
head -c 1048576 "$scratch/durable.img" >"$scratch/durable.got"
if has flushed-ok && [[ $status -eq 137 ]] && cmp -s "$scratch/durable.want" "$scratch/durable.got"; then
    tap_ok "data the guest flushed is in the disk file after kill -9 of berth"
else
    not_ok "data the guest flushed is in the disk file after kill -9 of berth (status $status)"
fi

# A qcow2 overlay (berth image create) over a raw base: the guest reads the base through
# it, writes and flushes 2 MiB at 1 MiB (clusters, L2 tables and refcounts allocated),
# berth is killed with SIGKILL; qemu then finds the image consistent, holding the data,
# and the base unchanged.
if command -v qemu-img >/dev/null; then
    printf 'berth qcow2 base\n' | dd of="$scratch/base.raw" bs=512 conv=sync status=none
    truncate -s 8M "$scratch/base.raw"
    base_sum=$(md5sum <"$scratch/base.raw")
    "$BERTH" image create --backing "$scratch/base.raw" "$scratch/over.qcow2" >/dev/null
    status=0
    "$BERTH" vm run --kernel "$kernel" --initrd "$initramfs" \
        --disk "$scratch/over.qcow2,format=qcow2" \
        --cmdline 'quiet berth_run="head -c 16 /dev/vda | grep -q berth.qcow2.base && echo qcow2-base=ok; seq -w 0 199999 | sed s/^/berth-qcow2-/ | head -c 2097152 | dd of=/dev/vda bs=64k seek=16 conv=fsync 2>/dev/null && echo qcow2-flushed=ok; sleep 600"' \
        >"$scratch/out" 2>"$scratch/err" </dev/null &
    berth_pid=$!
    for ((i = 0; i < 1500; ++i)); do
        has qcow2-flushed=ok && break
        kill -0 "$berth_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$berth_pid" 2>/dev/null
    wait "$berth_pid" 2>/dev/null || status=$?
    seq -w 0 199999 | sed s/^/berth-qcow2-/ | head -c 2097152 >"$scratch/qcow2.want"
    qemu-img convert -O raw "$scratch/over.qcow2" "$scratch/over.raw"
    dd if="$scratch/over.raw" of="$scratch/qcow2.got" bs=1M skip=1 count=2 status=none
    if has qcow2-base=ok && has qcow2-flushed=ok && [[ $status -eq 137 ]] &&
        qemu-img check "$scratch/over.qcow2" >"$scratch/check" 2>&1 &&
        cmp -s "$scratch/qcow2.want" "$scratch/qcow2.got" &&
        cmp -s -n 512 "$scratch/base.raw" "$scratch/over.raw" &&
        [[ $(md5sum <"$scratch/base.raw") == "$base_sum" ]]; then
        tap_ok "a qcow2 disk over a raw base: the guest reads the base, its flushed writes survive kill -9, qemu-img check passes"
    else
        not_ok "a qcow2 disk over a raw base: the guest reads the base, its flushed writes survive kill -9, qemu-img check passes (status $status)"
        tap_diag <"$scratch/check"
        tap_diag <"$scratch/err"
    fi
else
    tap_skip "a qcow2 disk over a raw base" "needs qemu-img (qemu-utils)"
fi

# --console hvc0: the virtio-console is the guest's console, both ways.
boot_linux 1 'echo active=$(cat /sys/class/tty/console/active); exit 5' --console hvc0
if [[ $status -eq 5 ]] && has "active=hvc0" && has "berth-guest: exit 5"; then
    tap_ok "--console hvc0: user space writes to hvc0 and its output reaches berth's stdout"
else
    not_ok "--console hvc0: user space writes to hvc0 and its output reaches berth's stdout (status $status)"
fi
type_at_console --console hvc0
if grep -qF 'berth-42-ok' "$scratch/out"; then
    tap_ok "--console hvc0 is interactive (typed command runs in the guest shell)"
else
    not_ok "--console hvc0 is interactive (typed command runs in the guest shell)"
fi
if [[ $status == 0 ]]; then
    tap_ok "poweroff typed at the hvc0 shell ends berth with status 0"
else
    not_ok "poweroff typed at the hvc0 shell ends berth with status 0 (status $status)"
fi

# Booting from a disk: the busybox disk (images/build-busybox-disk.sh) holds the kernel
# and initramfs in /boot; --image finds them with libext2fs, attaches the image as
# vda and passes root=/dev/vda. The guest's root is the ext4 disk, read-write. A copy:
# the test writes to it.
if [[ -n ${BERTH_BUSYBOX_DISK:-} && -r $BERTH_BUSYBOX_DISK ]]; then
    cp "$BERTH_BUSYBOX_DISK" "$scratch/disk-root.img"
    status=0
    timeout 150 "$BERTH" vm run --image "$scratch/disk-root.img" \
        --cmdline 'quiet berth_run="echo vda-rw-mounts=$(grep -c ^/dev/vda./.ext4.rw /proc/mounts); echo written >/root/disk-boot-mark; cat /etc/berth-release"' \
        >"$scratch/out" 2>"$scratch/err" </dev/null || status=$?
    if [[ $status -eq 0 ]] && has "disk root ready: /dev/vda ext4 rw" && has "vda-rw-mounts=1" &&
       PATH=$PATH:/usr/sbin:/sbin debugfs -R "cat /root/disk-boot-mark" "$scratch/disk-root.img" 2>/dev/null |
           grep -qx written; then
        tap_ok "--image boots a busybox root on ext4 (root=/dev/vda rw); a file it wrote is in the image"
    else
        not_ok "--image boots a busybox root on ext4 (root=/dev/vda rw) (status $status)"
    fi
else
    tap_skip "--image boots a busybox root on ext4" "no busybox disk image (BERTH_BUSYBOX_DISK)"
fi
