#!/usr/bin/env bash
# rig-selftest: prove tools/kvm-rig works end to end, in a single L1 boot.
#
# One rig run executes a `sh -c` script that checks, inside L1, everything a KVM
# test relies on (/dev/kvm, a real KVM guest run, a writable cwd, the environment,
# /tmp, the read-only host root), prints one "selftest: NAME ok|FAIL" line per
# check and a marker, then exits 7. From outside we assert the rig returned
# exactly 7 and read the lines back. Output is TAP; exit status 0 only if all pass.
#
# Nothing is compiled: the KVM guest is 16 bytes of real-mode code at the x86
# reset vector, written here with printf and run by the host's QEMU with
# -accel kvm inside L1. It writes 'K' to COM1 and leaves through QEMU's
# isa-debug-exit device, which makes QEMU exit with (0x2a << 1) | 1 = 85.
#
# Takes one L1 boot plus one small L2 QEMU start: about 30-60 s.

set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
rig=$here/../../tools/kvm-rig
# shellcheck source=../lib/tap.sh
. "$here/../lib/tap.sh"

# The work folder is deliberately under /tmp: the rig puts a fresh tmpfs on /tmp
# inside L1 and must still mount the cwd there (a CI clone can live under /tmp).
work=$(mktemp -d /tmp/rig-selftest.XXXXXX) || { echo "Bail out! cannot create a work folder"; exit 1; }
trap 'rm -rf -- "$work"' EXIT
mkdir "$work/cwd"
: >"$work/host-tmp-sentinel"   # on the host's /tmp: must NOT be visible inside L1

# 64 KiB "BIOS": zeros, then at offset 0xfff0 (the reset vector, CS:IP =
# f000:fff0 in real mode) the code:
#   mov dx,0x3f8 ; mov al,'K' ; out dx,al ; mov al,10 ; out dx,al
#   mov al,0x2a ; out 0xf4,al ; hlt
{ head -c 65520 /dev/zero
  printf '\xba\xf8\x03\xb0K\xee\xb0\x0a\xee\xb0\x2a\xe6\xf4\xf4\xf4\xf4'
} >"$work/cwd/reset-vector.bin"

marker=rig-selftest-done-$RANDOM$RANDOM
token=token-$RANDOM$RANDOM
# Passed through because their names start with BERTH_.
export BERTH_SELFTEST_MARKER=$marker BERTH_SELFTEST_TOKEN=$token
export BERTH_SELFTEST_SENTINEL=$work/host-tmp-sentinel BERTH_SELFTEST_CWD=$work/cwd

# The checks, run by the host's /bin/sh inside L1.
# shellcheck disable=SC2016  # expanded inside L1, not here
inside='
check() {  # check NAME DETAIL COMMAND...: print "selftest: NAME ok" or "... FAIL (DETAIL)"
  name=$1 detail=$2; shift 2
  if "$@"; then echo "selftest: $name ok"; else echo "selftest: $name FAIL ($detail)"; fi
}
check devkvm "/dev/kvm: $(ls -l /dev/kvm 2>&1)" test -c /dev/kvm
check inrig "BERTH_IN_RIG=${BERTH_IN_RIG-unset}" test "${BERTH_IN_RIG-}" = 1
echo "selftest: token=${BERTH_SELFTEST_TOKEN-unset}"
check cwd "pwd is $(pwd)" test "$(pwd -P)" = "$BERTH_SELFTEST_CWD"
check cwdwrite "cannot write in $(pwd)" sh -c "echo written-in-l1 >cwd-probe.txt"
check tmpfs "$(grep " /tmp " /proc/mounts)" sh -c "grep -q \"^tmpfs /tmp \" /proc/mounts && echo x >/tmp/probe && ! test -e \"$BERTH_SELFTEST_SENTINEL\""
check rootro "could write /etc" sh -c "! touch /etc/.berth-rig-probe 2>/dev/null"
# The KVM guest. timeout: an L2 run can hang in the rig (docs/rig.md).
timeout 300 qemu-system-x86_64 -accel kvm -M pc -m 16 -nodefaults -display none \
  -serial stdio -bios reset-vector.bin -device isa-debug-exit,iobase=0xf4,iosize=4 \
  </dev/null >guest.out 2>guest.err
rc=$?
check kvmguest "qemu status $rc, serial: $(cat guest.out), stderr: $(cat guest.err)" \
  sh -c "test $rc = 85 && grep -qx K guest.out"
echo "$BERTH_SELFTEST_MARKER"
exit 7
'

started=$SECONDS
(cd "$work/cwd" && "$rig" --timeout 900 -- sh -c "$inside") </dev/null >"$work/out" 2>&1
status=$?
elapsed=$((SECONDS - started))

saw() { grep -qxF -- "$1" "$work/out"; }
says_ok() { saw "selftest: $1 ok"; }
cwd_written() { says_ok cwdwrite && grep -qx written-in-l1 "$work/cwd/cwd-probe.txt" 2>/dev/null; }

tap_check "rig passes the command's exit status back exactly (want 7, got $status)" test "$status" = 7
tap_check "the command's marker text reached our stdout" saw "$marker"
tap_check "/dev/kvm is a character device inside L1" says_ok devkvm
tap_check "a KVM guest was created and ran inside L1 (wrote 'K', exited via isa-debug-exit)" says_ok kvmguest
tap_check "the command runs in the caller's cwd (under /tmp)" says_ok cwd
tap_check "the cwd is writable inside L1 and the file is on the host afterwards" cwd_written
tap_check "BERTH_IN_RIG=1 inside L1" says_ok inrig
tap_check "BERTH_* variables pass through" saw "selftest: token=$token"
tap_check "/tmp inside L1 is a fresh tmpfs (the host's /tmp is hidden)" says_ok tmpfs
tap_check "the host root is read-only inside L1" says_ok rootro
echo "# one rig run took ${elapsed}s"

if ((tap_failed)); then
  echo "# $tap_failed of $tap_count failed; rig output:"
  tap_diag "  " <"$work/out"
fi
tap_done
