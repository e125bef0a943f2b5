#!/usr/bin/env bash
# Runs every test that needs KVM, in one process. With a usable /dev/kvm the tests run
# here; without one the whole suite re-runs itself inside tools/kvm-rig, so there is
# one emulated boot per test run, not one per test. Prints TAP.
#   BERTH               the berth binary
#   BERTH_FIRMWARE_DIR  where the built guest firmware lives
#   BERTH_RIG           tools/kvm-rig
#   BERTH_FORCE_RIG=1   use the rig even when /dev/kvm works (to test that path)
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${BERTH:?}" "${BERTH_FIRMWARE_DIR:?}" "${BERTH_RIG:?}"

kvm_usable() {
    # `berth doctor` creates a VM to be sure; its first line is about /dev/kvm.
    "$BERTH" doctor 2>/dev/null | grep -q '^OK *\/dev\/kvm: usable'
}

if [[ ${BERTH_IN_RIG:-0} != 1 ]] && { [[ ${BERTH_FORCE_RIG:-0} == 1 ]] || ! kvm_usable; }; then
    echo "# no usable /dev/kvm here (or BERTH_FORCE_RIG=1): running the KVM tests in $BERTH_RIG"
    # The rig passes only BERTH_* variables through; hand the rest over explicitly.
    # Share the source tree too: the rig makes only the cwd (meson's build dir) and
    # --share folders visible when they live under /tmp, as a CI clone can.
    root=$(cd "$here/../.." && pwd)
    exec "$BERTH_RIG" --share "$root" -- env BERTH="$BERTH" BERTH_FIRMWARE_DIR="$BERTH_FIRMWARE_DIR" \
        BERTH_RIG="$BERTH_RIG" BERTH_INITRAMFS="${BERTH_INITRAMFS:-}" \
        BERTH_BUSYBOX_DISK="${BERTH_BUSYBOX_DISK:-}" BERTH_GPT_DISK="${BERTH_GPT_DISK:-}" \
        BERTH_VMLINUX="${BERTH_VMLINUX:-}" "$0" "$@"
fi

if [[ ${BERTH_IN_RIG:-0} == 1 ]]; then
    echo "# running inside the emulated rig: timings are 50-100x slower than hardware"
fi
exec "$here/kvm-tests.sh"
