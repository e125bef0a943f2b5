#!/usr/bin/env bash
# Booting the images people have (issue 15), sourced by kvm-tests.sh (which sets
# BERTH, scratch, not_ok, has and the TAP helpers). Runs alone too:
#   BERTH=build/berth BERTH_GPT_DISK=build/images/busybox-gpt.qcow2 bash tests/integration/image-tests.sh
if [[ -z ${scratch:-} ]]; then
    set -u
    # shellcheck source=../lib/tap.sh
    . "$(dirname "$0")/../lib/tap.sh"
    : "${BERTH:?}"
    scratch=$(mktemp -d "${TMPDIR:-/tmp}/image-tests.XXXXXX")
    trap 'rm -rf "$scratch"' EXIT
    not_ok() {
        tap_not_ok "$1"
        [[ -f $scratch/out ]] && tap_diag "stdout: " <"$scratch/out"
        [[ -f $scratch/err ]] && tap_diag "stderr: " <"$scratch/err"
    }
    has() { grep -qF -- "$1" "$scratch/out"; }
    image_tests_alone=1
fi

# A GPT + qcow2 disk (images/build-gpt-disk.sh): berth finds the ext4 root in partition
# 2, reads grub.cfg's default entry, its kernel and initrd through the qcow2 clusters,
# and boots with the entry's own root=UUID=..., its console= options replaced by
# berth's. No --kernel, --initrd or root=: --cmdline only adds the guest's probe.
if [[ -n ${BERTH_GPT_DISK:-} && -r $BERTH_GPT_DISK ]]; then
    cp "$BERTH_GPT_DISK" "$scratch/gpt.qcow2"
    status=0
    timeout 150 "$BERTH" vm run --image "$scratch/gpt.qcow2,format=qcow2" \
        --cmdline 'quiet berth_run="echo cmdline: $(cat /proc/cmdline); echo written >/root/gpt-mark"' \
        >"$scratch/out" 2>"$scratch/err" </dev/null || status=$?
    cmdline=$(sed -n 's/^cmdline: //p' "$scratch/out" | tr -d '\r')
    consoles=$(grep -o 'console=[^ ]*' <<<"$cmdline" | tr '\n' ' ')
    if [[ $status -eq 0 ]] && has "disk root ready: /dev/vda2 ext4 rw" &&
       [[ $cmdline == *"root=UUID=5e3f1c2a-8b7d-4e6f-9a1b-2c3d4e5f6a7b rw"* &&
          $cmdline == *berth_image_entry=gpt* && $consoles == "console=ttyS0 " ]] &&
       qemu-img check -q "$scratch/gpt.qcow2"; then
        tap_ok "--image boots a GPT qcow2 disk by its grub.cfg default entry (root=UUID from the image, partition 2, berth's console only)"
    else
        not_ok "--image boots a GPT qcow2 disk by its grub.cfg default entry (status $status, cmdline '$cmdline')"
    fi
else
    tap_skip "--image boots a GPT qcow2 disk" "no GPT disk image (BERTH_GPT_DISK)"
fi

# --ephemeral: the guest writes to its root (and reads it back), the writes land in a
# temporary overlay in $TMPDIR; afterwards the image has the same bytes and $TMPDIR is
# empty again. The image is made read-only: berth must not need to write it.
if [[ -n ${BERTH_GPT_DISK:-} && -r $BERTH_GPT_DISK ]]; then
    cp "$BERTH_GPT_DISK" "$scratch/base.qcow2"
    chmod 444 "$scratch/base.qcow2"
    before=$(sha256sum <"$scratch/base.qcow2")
    mkdir -p "$scratch/eph-tmp"
    echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0b3Yx8mNq4LwRk7yJ1xq2T4xQhQy2l7p8cQ9m3TqZl rig@berth" >"$scratch/key.pub"
    status=0
    # The same boot carries a cloud-init seed (--ssh-key, --hostname): the guest finds
    # the volume labelled cidata, mounts it and prints its files.
    TMPDIR=$scratch/eph-tmp timeout 150 "$BERTH" vm run --ephemeral \
        --image "$scratch/base.qcow2,format=qcow2" --ssh-key "$scratch/key.pub" --hostname seeded-guest \
        --cmdline 'quiet berth_run="dd if=/dev/urandom of=/root/big bs=1M count=4 2>/dev/null; echo ephemeral-write >/root/eph-mark; sync; echo read-back: $(cat /root/eph-mark); insmod /lib/modules/cdrom.ko; insmod /lib/modules/isofs.ko; dev=$(findfs LABEL=cidata); echo seed-device: $dev; mkdir -p /mnt/seed; mount -t iso9660 -o ro $dev /mnt/seed && sed s/^/seed:/ /mnt/seed/meta-data /mnt/seed/user-data"' \
        >"$scratch/out" 2>"$scratch/err" </dev/null || status=$?
    after=$(sha256sum <"$scratch/base.qcow2")
    left=$(ls -A "$scratch/eph-tmp")
    # The guest ran to its end (the seed check below owns the exit status).
    if has "read-back: ephemeral-write" && has "berth-guest: exit" &&
       [[ $before == "$after" && -z $left ]]; then
        tap_ok "--ephemeral: the guest's writes are seen by the guest, the image's bytes are unchanged and nothing is left in \$TMPDIR"
    else
        not_ok "--ephemeral: the image unchanged and nothing left (status $status, left '$left', same bytes: $([[ $before == "$after" ]] && echo yes || echo no))"
    fi
    if [[ $status -eq 0 ]] && has "seed-device: /dev/vdb" && has "seed:instance-id: berth-" &&
       has "seed:local-hostname: seeded-guest" && has "seed:#cloud-config" &&
       has "seed:  - \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0b3Yx8mNq4LwRk7yJ1xq2T4xQhQy2l7p8cQ9m3TqZl rig@berth\""; then
        tap_ok "--ssh-key/--hostname: the guest mounts the volume labelled cidata and reads meta-data (instance-id, local-hostname) and the key in user-data"
    else
        not_ok "--ssh-key/--hostname: the guest reads the cidata seed (status $status)"
    fi
else
    tap_skip "--ephemeral leaves the image unchanged" "no GPT disk image (BERTH_GPT_DISK)"
    tap_skip "the guest reads the cidata seed" "no GPT disk image (BERTH_GPT_DISK)"
fi

if [[ -n ${image_tests_alone:-} ]]; then
    tap_done
fi
