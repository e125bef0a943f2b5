#!/usr/bin/env bash
# Whether vmm/link/hot-text.ld still names berth's functions. The list (made by
# tools/hot-text) is only ever stale, never wrong: a name that no longer exists
# matches nothing and that function's code falls back into link order, so a stale list
# is a warning, repeated in tools/test's summary, not a failure. It fails only when it
# cannot tell (no list, no symbols). TAP.
#   BERTH  the berth binary (built with g++ and GNU ld, which use the list)
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=../lib/tap.sh
. "$here/../lib/tap.sh"
BERTH=${BERTH:?set BERTH to the berth binary}
list=$root/vmm/link/hot-text.ld
# More gone than this and the boot's resident code grows measurably (docs/benchmarks.md:
# the list saved ~1 MiB at a guest's marker): time to run tools/hot-text again.
stale_percent=10

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# With -ffunction-sections a function NAME is in section .text.NAME and its cold part
# NAME.cold in .text.unlikely.NAME (as tools/hot-text writes them); the wildcard line
# for static constructors names no function.
sed -n 's/^ *\*(\.text\.\([^ *)]*\))$/\1/p' "$list" >"$scratch/listed" 2>/dev/null
nm --defined-only "$BERTH" 2>/dev/null | awk '{ print $NF }' >"$scratch/symbols"
listed=$(wc -l <"$scratch/listed")
if ((listed == 0)); then
    tap_not_ok "vmm/link/hot-text.ld lists functions (.text.NAME lines)"
    tap_done
fi
if [[ ! -s $scratch/symbols ]]; then
    tap_not_ok "nm lists the symbols of $BERTH (is it stripped?)"
    tap_done
fi
awk 'NR == FNR { symbol[$0] = 1; next }
     /^unlikely\./ { name = substr($0, 10); if (!((name ".cold") in symbol) && !(name in symbol)) print; next }
     !($0 in symbol) { print }' "$scratch/symbols" "$scratch/listed" >"$scratch/gone"
gone=$(wc -l <"$scratch/gone")
percent=$((gone * 100 / listed))
tap_ok "vmm/link/hot-text.ld against $(basename "$BERTH"): $gone of its $listed functions are gone ($percent%)"
if ((percent > stale_percent)); then
    tap_warn "vmm/link/hot-text.ld is stale: $gone of its $listed functions ($percent%) are no longer in berth; regenerate it with tools/hot-text BUILD_DIR"
fi
head -n 5 "$scratch/gone" | tap_diag "gone: "
tap_done
