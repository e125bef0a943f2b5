#!/usr/bin/env bash
# Progress on long work (vmm/common/progress.hpp), end to end, no KVM: `berth image
# convert` raw -> qcow2 -> raw keeps every byte (qemu-img compares and checks), and shows
# its progress line only when stderr is a terminal (script(1) gives it a pty); `berth
# image build` shows the steps an image script reports (through BERTH_PROGRESS_FD) on a
# terminal only. In a pipe, stderr stays empty. TAP output; ~5 s.
set -u
# shellcheck source=../lib/tap.sh
. "$(dirname "$0")/../lib/tap.sh"
BERTH=${BERTH:?set BERTH to the berth binary}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
command -v qemu-img >/dev/null || { tap_skip_all "qemu-img is not installed (qemu-utils)"; exit 0; }
command -v script >/dev/null || { tap_skip_all "script(1) is not installed (bsdutils)"; exit 0; }
unset BERTH_PROGRESS

# A 96 MiB raw disk: data at the start, in the middle and in the last MiB, holes between.
raw=$scratch/disk.raw
truncate -s 96M "$raw"
head -c 3M /dev/urandom | dd of="$raw" conv=notrunc status=none
head -c 1M /dev/urandom | dd of="$raw" bs=1M seek=50 conv=notrunc status=none
printf 'the last bytes' | dd of="$raw" bs=1 seek=$(((96 << 20) - 14)) conv=notrunc status=none

# on_terminal FILE COMMAND...: runs COMMAND with a pty as its terminal (stdin, stdout and
# stderr); everything it printed, as the terminal showed it, goes to FILE.
on_terminal() {
    local file=$1
    shift
    local command
    printf -v command '%q ' "$@"
    script -qec "$command" /dev/null >"$file" </dev/null
}

# 1. Through pipes: the result only, no progress.
# stderr is a pipe here (to cat), as in a script that captures it.
"$BERTH" image convert -O qcow2 "$raw" "$scratch/disk.qcow2" 2>&1 >"$scratch/out" |
    cat >"$scratch/err"
status=${PIPESTATUS[0]}
if [[ $status -eq 0 && ! -s $scratch/err ]] && grep -q "wrote .*disk.qcow2 (qcow2, 96 MiB" "$scratch/out"; then
    tap_ok "image convert raw -> qcow2 in a script: nothing on stderr"
else
    tap_not_ok "image convert raw -> qcow2 in a script: nothing on stderr (status $status)"
    tap_diag <"$scratch/err"
fi
tap_check "qemu-img check: the converted qcow2 image is clean" qemu-img check -q "$scratch/disk.qcow2"
tap_check "qemu-img compare: the qcow2 image holds the raw disk's bytes" \
    qemu-img compare -q -f raw -F qcow2 "$raw" "$scratch/disk.qcow2"
allocated=$(qemu-img info --output=json "$scratch/disk.qcow2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["actual-size"])')
if ((allocated < 16 << 20)); then
    tap_ok "the holes stay unallocated in the qcow2 image ($((allocated >> 10)) KiB on disk)"
else
    tap_not_ok "the holes stay unallocated in the qcow2 image ($((allocated >> 10)) KiB on disk)"
fi
"$BERTH" image convert -f qcow2 "$scratch/disk.qcow2" "$scratch/back.raw" >/dev/null 2>"$scratch/err"
tap_check "image convert qcow2 -> raw gives the original bytes back" cmp "$raw" "$scratch/back.raw"

# 2. On a terminal: the progress line, ending at 100%.
on_terminal "$scratch/tty" "$BERTH" image convert -O qcow2 "$raw" "$scratch/tty.qcow2"
if grep -q $'\rberth: converting .*disk.raw: 100% (96 MiB of 96 MiB)' "$scratch/tty" &&
    grep -q "wrote .*tty.qcow2" "$scratch/tty"; then
    tap_ok "image convert on a terminal shows its progress up to 100%"
else
    tap_not_ok "image convert on a terminal shows its progress up to 100%"
    tap_diag <"$scratch/tty"
fi
BERTH_PROGRESS=0 on_terminal "$scratch/tty-off" "$BERTH" image convert "$raw" "$scratch/off.raw"
if ! grep -q "converting" "$scratch/tty-off" && grep -q "wrote" "$scratch/tty-off"; then
    tap_ok "BERTH_PROGRESS=0 turns the progress off on a terminal"
else
    tap_not_ok "BERTH_PROGRESS=0 turns the progress off on a terminal"
    tap_diag <"$scratch/tty-off"
fi

# 3. A raw input that starts like qcow2 is refused unless -f says so (as --backing).
refused_status=0
"$BERTH" image convert "$scratch/disk.qcow2" "$scratch/x.raw" >/dev/null 2>"$scratch/err" ||
    refused_status=$?
if [[ $refused_status -eq 2 && $(wc -l <"$scratch/err") -eq 1 && ! -e $scratch/x.raw ]] &&
    grep -q "starts with a qcow2 header.*add -f qcow2" "$scratch/err"; then
    tap_ok "image convert of a qcow2 file without -f qcow2: one line, status 2, no output"
else
    tap_not_ok "image convert of a qcow2 file without -f qcow2 (status $refused_status)"
    tap_diag <"$scratch/err"
fi

# 4. image build: an image script's steps (BERTH_PROGRESS_FD) on a terminal only. A
# stand-in for build-initramfs.sh (BERTH_IMAGES_DIR) reports two steps as
# build-debian.sh does, and writes the output.
mkdir "$scratch/images"
cat >"$scratch/images/build-initramfs.sh" <<'SCRIPT'
progress() { if [[ -n ${BERTH_PROGRESS_FD:-} ]]; then echo "$*" >&"$BERTH_PROGRESS_FD"; fi; }
progress 1 2 "first step"
echo "script output"
progress 2 2 "second step"
echo data >"$1"
SCRIPT
BERTH_IMAGES_DIR=$scratch/images "$BERTH" image build initramfs -o "$scratch/i.cpio" \
    2>&1 >"$scratch/out" | cat >"$scratch/err"
if ! grep -q "step" "$scratch/out" "$scratch/err" && grep -q "script output" "$scratch/out"; then
    tap_ok "image build in a script: the script's own output, no steps"
else
    tap_not_ok "image build in a script: the script's own output, no steps"
    cat "$scratch/out" "$scratch/err" | tap_diag
fi
BERTH_IMAGES_DIR=$scratch/images on_terminal "$scratch/tty" "$BERTH" image build initramfs -o "$scratch/i2.cpio"
if grep -q "berth: image build initramfs: \[1/2\] first step" "$scratch/tty" &&
    grep -q "berth: image build initramfs: \[2/2\] second step" "$scratch/tty" &&
    grep -q "wrote .*i2.cpio" "$scratch/tty"; then
    tap_ok "image build on a terminal shows the script's steps"
else
    tap_not_ok "image build on a terminal shows the script's steps"
    tap_diag <"$scratch/tty"
fi
tap_done
