# What the tests that drive berth through a real client (podman, containerd) share:
# a failure shows the client's last output, and a check names the client's status.
# Sourced after tests/lib/tap.sh; the caller keeps the last command's output in
# $scratch/out and $scratch/err and its status in $st.

# fail NAME: not ok, with the first lines of the last command's stderr and stdout.
fail() {
    tap_not_ok "$1"
    [[ -s $scratch/err ]] && head -5 "$scratch/err" | tap_diag "  err: "
    [[ -s $scratch/out ]] && head -5 "$scratch/out" | tap_diag "  out: "
    return 0
}
# check NAME TEST...: ok when TEST succeeds, else fail with the last status.
check() {
    local name=$1
    shift
    if "$@"; then tap_ok "$name"; else fail "$name (status $st)"; fi
}
