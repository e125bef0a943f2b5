# shellcheck shell=bash
# A berth VM driven through its serial console, for the slow suites that boot a full
# guest and answer its prompts (source it after tests/lib/tap.sh):
#   console_start DIR BERTH-ARGS...  runs `berth vm run BERTH-ARGS` in the background with
#                                    its console input on fd 7 (a FIFO in /tmp: a rig's
#                                    shared 9p folders have no FIFOs); output, errors and
#                                    exit status go to DIR/out, DIR/err and DIR/status
#   console_wait TEXT SECONDS        until TEXT is in the output; fails if berth exits first
#   console_result STATUS NAME       the TAP line; on failure the console's end and errors
#   console_finish                   waits up to 300 s for berth to exit, closes the input,
#                                    and sets console_status to its exit status ("none"
#                                    if it still runs)
console_start() {
    console_dir=$1
    shift
    console_fifo=$(mktemp -u /tmp/berth-console.XXXXXX)
    mkfifo "$console_fifo"
    ("${berth:?}" vm run "$@" <"$console_fifo" >"$console_dir/out" 2>"$console_dir/err"
     echo $? >"$console_dir/status") &
    exec 7>"$console_fifo"
}
console_wait() {
    local i
    for ((i = 0; i < $2 * 10; ++i)); do
        grep -qF -- "$1" "$console_dir/out" && return 0
        [[ -s $console_dir/status ]] && return 1
        sleep 0.1
    done
    return 1
}
console_result() {
    tap_result "$1" "$2"
    [[ $1 == 0 ]] || { tail -n 40 "$console_dir/out"; cat "$console_dir/err"; } | tap_diag
}
console_finish() {
    local i
    for ((i = 0; i < 3000; ++i)); do [[ -s $console_dir/status ]] && break; sleep 0.1; done
    exec 7>&-
    rm -f "$console_fifo"
    console_status=$(cat "$console_dir/status" 2>/dev/null || echo none)
}
