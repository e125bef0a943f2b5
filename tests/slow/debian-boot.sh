#!/usr/bin/env bash
# The full Debian guest: boots build/images/debian.img (berth image build debian) with
# --image, waits for systemd's login prompt on the serial console, logs in as root
# (password berth), checks systemd reached multi-user, and powers off: berth must end
# with status 0. Slow (minutes in the rig), so not part of tools/test: run it with
#   tests/slow/debian-boot.sh [IMAGE]     (re-runs itself in tools/kvm-rig without KVM)
# Prints TAP.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib/tap.sh
. "$root/tests/lib/tap.sh"
# shellcheck source=guest-console.sh
. "$root/tests/slow/guest-console.sh"
image=$(realpath "${1:-${BERTH_DEBIAN_IMAGE:-$root/build/images/debian.img}}")
berth=${BERTH:-$root/build/berth}
[[ -r $image ]] || tap_skip_all "no Debian image at $image (make one: build/berth image build debian -o $image)"
if [[ -z ${BERTH_IN_RIG:-} ]] && ! "$berth" doctor 2>/dev/null | grep -q '^OK *\/dev\/kvm: usable'; then
    # The console goes to files, so L1's stays quiet while Debian boots: no watchdog.
    BERTH_RIG_SILENCE=${BERTH_RIG_SILENCE:-0} exec "$root/tools/kvm-rig" --timeout 0 --share "$root" --share "$(dirname "$image")" -- \
        env BERTH_DEBIAN_IMAGE="$image" "$0"
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# A copy: the boot writes to its root file system. (cp --sparse keeps it small.)
cp --sparse=always "$image" "$scratch/debian.img"
console_start "$scratch" --image "$scratch/debian.img" --memory 1G --cpus 2
console_wait "login:" 1500; console_result $? "systemd reaches a login prompt on the serial console"
printf 'root\n' >&7
console_wait "Password:" 60; printf 'berth\n' >&7
sleep 2
printf 'echo state=$(systemctl is-system-running); systemctl is-active multi-user.target | sed s/^/multi-user=/\n' >&7
console_wait "multi-user=active" 300; console_result $? "root logs in; multi-user.target is active"
printf 'poweroff\n' >&7
console_finish
[[ $console_status == 0 ]]; console_result $? "poweroff in the guest ends berth with status 0 (status $console_status)"
grep -F "state=" "$scratch/out" | tail -n 1 | tap_diag
tap_done
