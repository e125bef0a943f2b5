#!/usr/bin/env bash
# Bad input on the command line: each case must print exactly one line on stderr that
# names the problem, exit with status 2, and never crash. Inputs are validated before
# KVM is opened, so this runs on any host. TAP output for meson.
set -u
BERTH=${BERTH:?set BERTH to the berth binary}
HELLO=${HELLO_FIRMWARE:?set HELLO_FIRMWARE to hello.bin}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

n=0
failed=0
# expect_bad_input NAME PATTERN -- ARGS...: status 2, one stderr line matching PATTERN.
expect_bad_input() {
    local name=$1 pattern=$2
    shift 3
    n=$((n + 1))
    local status=0
    "$BERTH" "$@" >"$scratch/out" 2>"$scratch/err" || status=$?
    local lines
    lines=$(wc -l <"$scratch/err")
    if [[ $status -eq 2 && $lines -eq 1 ]] && grep -qE -- "$pattern" "$scratch/err"; then
        echo "ok $n - $name"
    else
        failed=$((failed + 1))
        echo "not ok $n - $name (status $status, $lines stderr lines)"
        sed 's/^/# /' "$scratch/err"
    fi
}

: >"$scratch/empty.bin"
head -c $((2 * 1024 * 1024)) /dev/zero >"$scratch/big.bin"
mkdir "$scratch/dir.bin"
chmod 000 "$scratch/empty.bin"
unreadable_note=""
if [[ $(id -u) -eq 0 ]]; then
    # root reads mode-000 files; use a path under a file to make it unreadable.
    unreadable="$scratch/big.bin/child"
else
    unreadable="$scratch/empty.bin"
fi
chmod 644 "$scratch/empty.bin"

echo "1..14"
expect_bad_input "unknown flag" "--bogus" -- vm run --firmware "$HELLO" --bogus
expect_bad_input "unknown subcommand" "frobnicate" -- frobnicate
expect_bad_input "no subcommand" "subcommand" --
expect_bad_input "vm without run" "subcommand" -- vm
expect_bad_input "missing --firmware" "--firmware" -- vm run
expect_bad_input "missing firmware file" "cannot read firmware .*no-such.bin" -- vm run --firmware "$scratch/no-such.bin"
expect_bad_input "unreadable firmware" "cannot read firmware" -- vm run --firmware "$unreadable"
expect_bad_input "firmware is a directory" "not a regular file" -- vm run --firmware "$scratch/dir.bin"
expect_bad_input "empty firmware" "is empty" -- vm run --firmware "$scratch/empty.bin"
expect_bad_input "firmware larger than memory" "does not fit.*--memory" -- vm run --firmware "$scratch/big.bin" --memory 2M
expect_bad_input "memory not a number" "--memory 'lots' is not a size" -- vm run --firmware "$HELLO" --memory lots
expect_bad_input "memory unknown unit" "unknown unit" -- vm run --firmware "$HELLO" --memory 16Q
expect_bad_input "memory too small" "too small" -- vm run --firmware "$HELLO" --memory 64K
expect_bad_input "memory not page multiple" "multiple of 4 KiB" -- vm run --firmware "$HELLO" --memory 1048577
: "$unreadable_note"
exit $((failed > 0))
