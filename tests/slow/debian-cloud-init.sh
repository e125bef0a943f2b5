#!/usr/bin/env bash
# The Debian image as a cloud image: build/images/debian.img (berth image build debian,
# a raw ext4 file system) is put into partition 2 of a GPT disk (partition 1 an empty
# EFI system partition, as cloud images have one) and converted to qcow2, then booted
# with `--image` (no kernel flags: berth finds the kernel in the partition and boots
# root=/dev/vda2), a cloud-init seed (--ssh-key, --hostname) and --net user
# --publish 2222:22. The checks: systemd reaches the login prompt; cloud-init made the
# default user "debian" with the key, so ssh -p 2222 debian@127.0.0.1 runs a command
# that shows the seeded host name and the DHCP address systemd-networkd took; `sudo
# poweroff` over ssh ends berth with status 0; qemu-img check is clean afterwards.
# Slow (minutes in the rig), so not part of tools/test: run it with
#   tests/slow/debian-cloud-init.sh [IMAGE]   (re-runs itself in tools/kvm-rig without KVM)
# Prints TAP.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib/tap.sh
. "$root/tests/lib/tap.sh"
# shellcheck source=guest-console.sh
. "$root/tests/slow/guest-console.sh"
berth=${BERTH:-$root/build/berth}
export PATH=$PATH:/usr/sbin:/sbin
bail() { tap_not_ok "$1"; tap_done; }
for tool in sfdisk qemu-img ssh ssh-keygen; do
    command -v "$tool" >/dev/null ||
        tap_skip_all "$tool is not installed (apt-get install fdisk qemu-utils openssh-client)"
done

if [[ -z ${BERTH_IN_RIG:-} ]]; then
    image=$(realpath "${1:-${BERTH_DEBIAN_IMAGE:-$root/build/images/debian.img}}")
    [[ -r $image ]] || tap_skip_all "no Debian image at $image (make one: build/berth image build debian -o $image)"
    # The conversion runs on the host (the rig's 9p file access is slow), into a scratch
    # folder of the build tree that the rig shares: the host's /tmp is not visible there.
    scratch=$(mktemp -d "$root/build/debian-cloud.XXXXXX")
    trap 'rm -rf "$scratch"' EXIT
    root_bytes=$(stat -c %s "$image")
    truncate -s $(((1 + 2 + 1) * 1048576 + root_bytes)) "$scratch/disk.raw"
    sfdisk -q "$scratch/disk.raw" <<TABLE || bail "sfdisk could not write the GPT"
label: gpt
start=2048, size=4096, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=efi
start=6144, size=$((root_bytes / 512)), type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=root
TABLE
    dd if="$image" of="$scratch/disk.raw" bs=1M seek=3 conv=notrunc,sparse status=none &&
        qemu-img convert -f raw -O qcow2 "$scratch/disk.raw" "$scratch/debian.qcow2" ||
        bail "cannot convert $image to a GPT qcow2 disk"
    rm "$scratch/disk.raw"
    ssh-keygen -q -t ed25519 -N '' -C berth-slow-test -f "$scratch/key"
    if ! "$berth" doctor 2>/dev/null | grep -q '^OK *\/dev\/kvm: usable'; then
        # The guest's console goes to files, so L1's stays quiet for minutes while
        # Debian boots: no silence watchdog.
        BERTH_RIG_SILENCE=${BERTH_RIG_SILENCE:-0} "$root/tools/kvm-rig" --timeout 0 --share "$root" -- \
            env BERTH="$berth" BERTH_CLOUD_SCRATCH="$scratch" "$0"
        exit
    fi
    export BERTH_CLOUD_SCRATCH=$scratch
fi
scratch=$BERTH_CLOUD_SCRATCH
[[ -r $scratch/debian.qcow2 && -r $scratch/key.pub ]] || bail "no converted disk in $scratch"

start=$(date +%s)
console_start "$scratch" --image "$scratch/debian.qcow2,format=qcow2" --memory 1G --cpus 2 \
    --ssh-key "$scratch/key.pub" --hostname cloudy --net user --publish 2222:22
guest_ssh() {
    ssh -p 2222 -i "$scratch/key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o LogLevel=ERROR -o ConnectTimeout=20 -o BatchMode=yes debian@127.0.0.1 "$@"
}
console_wait "login:" 1500; console_result $? "the GPT qcow2 Debian disk boots to a login prompt (--image, no kernel flags)"
echo "login prompt after $(($(date +%s) - start)) s" | tap_diag
# cloud-init's config stage (the key, the host name) may end after getty started.
ok=1
for ((i = 0; i < 60; ++i)); do
    if guest_ssh 'echo ssh-in: $(hostname) $(id -un) $(ip -4 -o addr show scope global | awk "{print \$4}")' \
        >"$scratch/ssh" 2>"$scratch/ssh-err"; then
        ok=0
        break
    fi
    [[ -s $scratch/status ]] && break
    sleep 5
done
tap_diag <"$scratch/ssh"
[[ $ok == 0 ]] && grep -q "^ssh-in: cloudy debian [0-9.]*/[0-9]*" "$scratch/ssh"
console_result $? "ssh over --net user --publish 2222:22 with the --ssh-key key runs a command as cloud-init's user debian on host cloudy, with a DHCP address"
[[ $ok == 0 ]] || tap_diag <"$scratch/ssh-err"
echo "ssh worked after $(($(date +%s) - start)) s" | tap_diag
guest_ssh 'cloud-init status --long; systemctl is-active systemd-networkd ssh' 2>&1 | tap_diag
guest_ssh 'sudo poweroff' >/dev/null 2>&1
console_finish
[[ $console_status == 0 ]]; console_result $? "sudo poweroff over ssh ends berth with status 0 (status $console_status)"
qemu-img check -q "$scratch/debian.qcow2"; console_result $? "qemu-img check is clean on the disk afterwards"
echo "total $(($(date +%s) - start)) s" | tap_diag
tap_done
