#!/usr/bin/env bash
# docs/trace-viewer.html in headless Chromium: it draws a real berth trace (lesson 1's,
# recorded by `berth lesson 1 --trace`, in tests/docs/hello-trace.json) without a
# JavaScript error, reports the right exit count, renders to a PNG, and reports a
# broken trace as an error rather than drawing nothing. TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
viewer=$root/docs/trace-viewer.html
fixture=$here/hello-trace.json
# shellcheck source=../lib/tap.sh
. "$here/../lib/tap.sh"

chromium=$(command -v chromium || command -v chromium-browser || true)
[[ -n $chromium ]] || tap_skip_all "chromium is not installed (apt-get install chromium)"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
not_ok() {  # the failure, then what the page and Chromium's log say
    tap_not_ok "$1"
    grep -i 'status\|title' "$scratch/dom" 2>/dev/null | head -5 | tap_diag "dom: "
    grep -i 'uncaught\|error' "$scratch/log" 2>/dev/null | head -10 | tap_diag "log: "
}

# run_chromium TRACE ARGS...: loads the viewer on TRACE; DOM in $scratch/dom, log in $scratch/log.
run_chromium() {
    local trace=$1
    shift
    rm -rf "$scratch/profile"
    timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$scratch/profile" --allow-file-access-from-files \
        --enable-logging=stderr --v=0 --virtual-time-budget=5000 \
        "$@" "file://$viewer?trace=file://$trace" >"$scratch/dom" 2>"$scratch/log"
}
# JavaScript errors reach the log as console messages ("Uncaught ...").
js_errors() { grep -c 'Uncaught' "$scratch/log"; }

expected=$(python3 -c 'import json, sys
print(sum(1 for e in json.load(open(sys.argv[1]))["traceEvents"] if e.get("ph") == "X"))' "$fixture")

run_chromium "$fixture" --dump-dom
if grep -q 'id="status" data-state="ok"' "$scratch/dom" &&
   grep -qF "<title>berth trace viewer: $expected exits</title>" "$scratch/dom"; then
    tap_ok "the viewer draws lesson 1's trace: $expected exits, state ok"
else
    not_ok "the viewer draws lesson 1's trace ($expected exits expected)"
fi
bars=$(grep -o '<rect ' "$scratch/dom" | wc -l)
if [[ $(js_errors) == 0 && $bars == "$expected" ]]; then
    tap_ok "one SVG bar per exit ($bars), no JavaScript errors"
else
    not_ok "one SVG bar per exit ($bars, want $expected), no JavaScript errors ($(js_errors))"
fi

run_chromium "$fixture" --window-size=1200,600 --screenshot="$scratch/trace.png"
if [[ $(head -c 8 "$scratch/trace.png" 2>/dev/null | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] &&
   (( $(stat -c %s "$scratch/trace.png") > 5000 )) && [[ $(js_errors) == 0 ]]; then
    tap_ok "the viewer renders to a PNG ($(stat -c %s "$scratch/trace.png") bytes)"
else
    not_ok "the viewer renders to a PNG"
fi

printf '{"traceEvents": [{"ph": "X", "name": "IO", "tid": 0}]}' >"$scratch/broken.json"
run_chromium "$scratch/broken.json" --dump-dom
if grep -q 'id="status" data-state="error"' "$scratch/dom" &&
   grep -q 'without numeric ts and dur' "$scratch/dom"; then
    tap_ok "a trace with a malformed event is reported as an error"
else
    not_ok "a trace with a malformed event is reported as an error"
fi

tap_done
