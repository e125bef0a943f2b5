#!/usr/bin/env bash
# Issue 18's long runs, by hand (not part of tools/test): 100 VM runs in a row leave
# nothing behind (tests/integration/leak-tests.sh) and 100 kill -9s of berth at random
# moments lose no record the guest flushed (durability-tests.sh), then the sandbox's
# checks (sandbox-tests.sh) with the boot timing of --seccomp on against off. The kvm
# suite runs the same files with 20 runs, 3 reboots and 2 kills.
#   tests/slow/vm-hardening.sh        (re-runs itself in tools/kvm-rig without KVM)
# BERTH_LEAK_RUNS, BERTH_LEAK_BOOTS, BERTH_KILL_RUNS, BERTH_SANDBOX_BENCH override the
# counts; BERTH_AREAS picks the files (default "sandbox leak durability"); BERTH another
# berth binary than build/berth. Issue 14's
# 100 MiB each way through --net user and --net bridge (the kvm suite moves
# BERTH_BULK_MIB=8, what the emulated rig does in about a minute):
#   BERTH_AREAS="net bridge" tests/slow/vm-hardening.sh
# Prints TAP.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib/tap.sh
. "$root/tests/lib/tap.sh"
export BERTH=${BERTH:-$root/build/berth}
export BERTH_FIRMWARE_DIR=${BERTH_FIRMWARE_DIR:-$root/build/guest-firmware}
export BERTH_INITRAMFS=${BERTH_INITRAMFS:-$root/build/images/initramfs.cpio.gz}
export BERTH_LEAK_RUNS=${BERTH_LEAK_RUNS:-100} BERTH_LEAK_BOOTS=${BERTH_LEAK_BOOTS:-5}
export BERTH_KILL_RUNS=${BERTH_KILL_RUNS:-100} BERTH_SANDBOX_BENCH=${BERTH_SANDBOX_BENCH:-1}
export BERTH_AREAS=${BERTH_AREAS:-sandbox leak durability} BERTH_BULK_MIB=${BERTH_BULK_MIB:-100}
if [[ -z ${BERTH_IN_RIG:-} ]] && ! "$BERTH" doctor 2>/dev/null | grep -q '^OK *\/dev\/kvm: usable'; then
    # The rig hands every BERTH_* variable over, and BERTH (another binary) through env.
    exec "$root/tools/kvm-rig" --timeout 0 --share "$root" -- env BERTH="$BERTH" "$0"
fi
# shellcheck source=../integration/kvm-prelude.sh
source "$root/tests/integration/kvm-prelude.sh"
for name in $BERTH_AREAS; do
    area "$name"
done
tap_done
