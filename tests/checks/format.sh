#!/usr/bin/env bash
# Every tracked C++ file is as clang-format (the repo's .clang-format) would write it, so
# that formatting is checked on each test run, not only when someone remembers. TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=../lib/tap.sh
. "$here/../lib/tap.sh"

git -C "$root" rev-parse --git-dir >/dev/null 2>&1 ||
    tap_skip_all "$root is not a git checkout: there is no list of tracked files"
if ! command -v clang-format >/dev/null; then
    tap_not_ok "clang-format is installed (tools/setup installs it: apt-get install clang-format)"
    tap_done
fi

# Tracked, and present: a file deleted but not yet staged is not there to format.
mapfile -t files < <(cd "$root" && git ls-files -- '*.cpp' '*.hpp' '*.h' '*.cc' |
    while read -r file; do [[ -f $file ]] && echo "$file"; done)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ((${#files[@]} == 0)); then
    tap_not_ok "tracked C++ files are clang-formatted (git ls-files found none)"
elif (cd "$root" && clang-format --dry-run --Werror "${files[@]}") >"$log" 2>&1; then
    tap_ok "all ${#files[@]} tracked C++ files are clang-formatted"
else
    mapfile -t bad < <(sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: error: .*/\1/p' "$log" | sort -u)
    tap_not_ok "all ${#files[@]} tracked C++ files are clang-formatted (not: ${bad[*]}; fix: clang-format -i FILE)"
    head -n 40 "$log" | tap_diag
fi
tap_done
