#!/usr/bin/env bash
# The shared libraries berth loads (its ELF NEEDED entries) are exactly the ones
# docs/benchmarks.md promises: every extra library costs each start its loading and
# relocation (docs/benchmarks.md, the static link). The promise is one line there,
# "berth's NEEDED libraries: `lib...` `lib...`", which this check reads. TAP.
#   BERTH  the berth binary
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=../lib/tap.sh
. "$here/../lib/tap.sh"
BERTH=${BERTH:?set BERTH to the berth binary}
export LC_ALL=C  # one sort order for sort and comm
doc=$root/docs/benchmarks.md

promise=$(grep -m 1 "^berth's NEEDED libraries:" "$doc")
mapfile -t promised < <(grep -o '`[^`]*`' <<<"${promise#*:}" | tr -d '`' | sort)
mapfile -t needed < <(readelf -d "$BERTH" 2>/dev/null |
    sed -n 's/.*(NEEDED).*Shared library: \[\(.*\)\]$/\1/p' | sort)

if ((${#promised[@]} == 0)); then
    tap_not_ok "docs/benchmarks.md has a line \"berth's NEEDED libraries: \`lib...\` ...\" naming them"
elif ((${#needed[@]} == 0)); then
    tap_not_ok "readelf -d $BERTH lists its NEEDED libraries"
elif [[ ${needed[*]} == "${promised[*]}" ]]; then
    tap_ok "berth loads exactly the libraries docs/benchmarks.md promises: ${needed[*]}"
else
    tap_not_ok "berth loads exactly the libraries docs/benchmarks.md promises"
    comm -13 <(printf '%s\n' "${promised[@]}") <(printf '%s\n' "${needed[@]}") | tap_diag "needed, not promised: "
    comm -23 <(printf '%s\n' "${promised[@]}") <(printf '%s\n' "${needed[@]}") | tap_diag "promised, not needed: "
    echo "# a new library is a start-up cost: link it statically, or update the line in docs/benchmarks.md"
fi
tap_done
