# shellcheck shell=bash
# TAP output for every shell suite (source it: . "$(dirname "$0")/../lib/tap.sh").
# The suite reports each result through these functions and ends with tap_done, which
# prints the plan counted from what ran (so adding a case cannot leave a stale count)
# and exits non-zero when anything failed. A skip always names its reason.
#   tap_ok NAME                 a passing result
#   tap_not_ok NAME             a failing one (print diagnostics after it with tap_diag)
#   tap_result STATUS NAME      ok when STATUS is 0
#   tap_check NAME COMMAND...   ok when COMMAND succeeds
#   tap_skip NAME REASON        a result that could not be checked here, and why
#   tap_todo NAME REASON        a known failure, "not ok ... # TODO REASON", not failing the run
#   tap_skip_all REASON         nothing of the suite can run here: an empty plan, exit 0
#   tap_warn TEXT               a "# warning:" line; tools/test repeats it in its summary
#   tap_diag [PREFIX]           stdin as TAP comment lines ("# PREFIXline")
#   tap_done                    the plan, then exit 1 if anything failed, else 0
tap_count=0
tap_failed=0

tap_ok() {
    tap_count=$((tap_count + 1))
    echo "ok $tap_count - $1"
}
tap_not_ok() {
    tap_count=$((tap_count + 1))
    tap_failed=$((tap_failed + 1))
    echo "not ok $tap_count - $1"
}
# tap_todo NAME REASON: a known failure, reported ("not ok ... # TODO REASON") without
# failing the suite, until it is fixed.
tap_todo() {
    tap_count=$((tap_count + 1))
    echo "not ok $tap_count - $1 # TODO $2"
}
tap_result() {
    if [[ $1 == 0 ]]; then tap_ok "$2"; else tap_not_ok "$2"; fi
}
tap_check() {
    local name=$1
    shift
    if "$@"; then tap_ok "$name"; else tap_not_ok "$name"; fi
}
tap_skip() {
    [[ -n ${2:-} ]] || { echo "tap.sh: tap_skip '$1' without a reason" >&2; exit 2; }
    tap_count=$((tap_count + 1))
    echo "ok $tap_count - $1 # SKIP $2"
}
tap_skip_all() {
    [[ -n ${1:-} ]] || { echo "tap.sh: tap_skip_all without a reason" >&2; exit 2; }
    echo "1..0 # SKIP $1"
    exit 0
}
tap_warn() {
    echo "# warning: $1"
}
# shellcheck disable=SC2120  # the prefix is optional
tap_diag() {
    awk -v prefix="${1:-}" '{ print "# " prefix $0 }'
}
tap_done() {
    echo "1..$tap_count"
    exit $((tap_failed > 0))
}
