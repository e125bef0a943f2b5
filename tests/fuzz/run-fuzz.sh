#!/usr/bin/env bash
# One fuzz harness as a test. Usage: run-fuzz.sh HARNESS SEEDS SECONDS
# SECONDS > 0 (a libFuzzer build, -Dfuzzing=true): fuzzes for that long, starting from
# the seed corpus (new inputs go to a scratch corpus, never into the tree); a crash
# fails the test and its input is kept in BUILD/fuzz-crashes/ to be fixed and added to
# the seeds. SECONDS = 0: replays the seeds once (any build).
set -uo pipefail
harness=$1 seeds=$2 seconds=$3
if [[ $seconds == 0 ]]; then
    exec "$harness" "$seeds"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
# -close_fd_mask=2: the code under test's own stderr (a device's "needs a reset" line
# for every input that breaks a queue) is closed; libFuzzer's and the sanitizers'
# reports still come out.
"$harness" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -close_fd_mask=2 \
    -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" "$seeds"
status=$?
if [[ $status -ne 0 ]]; then
    kept="$(dirname "$harness")/fuzz-crashes/$(basename "$harness")"
    mkdir -p "$kept"
    cp "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* "$kept/" 2>/dev/null
    echo "run-fuzz: $(basename "$harness") failed (status $status); inputs kept in $kept" >&2
fi
exit $status
