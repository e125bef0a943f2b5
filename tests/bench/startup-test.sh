#!/usr/bin/env bash
# berth bench startup end to end, small: --runs 2 with every peer that is installed,
# the VM half through tools/kvm-rig when this host's KVM cannot boot Linux (one rig
# start). Checks the table, the JSON (every phase present and non-negative, phases add
# up to the total), the SVG (well-formed XML, one bar per runtime that ran, one rect
# per phase) and that headless Chromium renders the SVG to a PNG. Needs root (the
# containers get cgroup limits); TAP.
set -u
# shellcheck source=../lib/tap.sh
. "$(dirname "$0")/../lib/tap.sh"
BERTH=${BERTH:?set BERTH to the berth binary}
[[ $(id -u) -eq 0 ]] || tap_skip_all "berth bench startup needs root (cgroups)"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
check() {  # check NAME COMMAND...: ok when COMMAND succeeds; its output becomes diagnostics
    local name=$1
    shift
    if "$@" >"$scratch/check" 2>&1; then
        tap_ok "$name"
    else
        tap_not_ok "$name"
        head -20 "$scratch/check" | tap_diag
    fi
}

status=0
"$BERTH" bench startup --runs 2 --json "$scratch/out.json" --svg "$scratch/out.svg" \
    >"$scratch/table" 2>"$scratch/progress" || status=$?
if [[ $status -eq 0 ]] && grep -q 'berth vm' "$scratch/table" && grep -q 'berth ct' "$scratch/table"; then
    tap_ok "bench startup --runs 2 ran berth vm and berth ct (status 0)"
else
    tap_not_ok "bench startup --runs 2 ran berth vm and berth ct (status $status)"
    tr '\r' '\n' <"$scratch/progress" | tail -15 | tap_diag
fi
tap_diag <"$scratch/table"
if grep -q 'bench startup: .* run 2/2' "$scratch/progress"; then
    tap_ok "a progress line on stderr while it runs"
else
    tap_not_ok "a progress line on stderr while it runs"
fi

check "JSON: every runtime that ran has 2 samples, every phase present, >= 0, adding up to the total" \
    python3 - "$scratch/out.json" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
assert data["runs"] == 2, data["runs"]
ran = [r for r in data["runtimes"] if "skipped" not in r]
names = {r["name"] for r in ran}
assert {"berth vm", "berth vm restore", "berth ct"} <= names, names
for r in data["runtimes"]:
    if "skipped" in r:
        assert r["skipped"], f"{r['name']}: skipped without a reason"
        continue
    assert len(r["samples"]) == 2, (r["name"], len(r["samples"]))
    ids = [p["id"] for p in r["phases"]]
    assert ids and all(p["label"] for p in r["phases"]), r["name"]
    for s in r["samples"]:
        assert sorted(s["phases"]) == sorted(ids), (r["name"], sorted(s["phases"]), ids)
        assert all(v >= 0 for v in s["phases"].values()), (r["name"], s["phases"])
        total = sum(s["phases"].values())
        assert s["total"] > 0 and abs(total - s["total"]) <= 1e-6 + 0.001 * s["total"], (r["name"], total, s["total"])
        marks = {m["name"]: m["at"] for m in s["marks"]}
        assert abs(marks["exit"] - s["total"]) < 1e-6, (r["name"], marks["exit"], s["total"])
berth_vm = next(r for r in ran if r["name"] == "berth vm")
assert len(berth_vm["phases"]) >= 6, berth_vm["phases"]
# The VM from snapshot: restore, first guest instruction, then the guest to its marker;
# no boot (no kernel console mark, no /init phase mark).
restore = next(r for r in ran if r["name"] == "berth vm restore")
assert [p["id"] for p in restore["phases"]] == [
    "launch", "restore", "restore_vcpu", "restore_guest", "vm_teardown"], restore["phases"]
for s in restore["samples"]:
    marks = {m["name"] for m in s["marks"]}
    assert {"restored", "vcpu_entry", "guest_exit"} <= marks and "guest_init" not in marks, marks
assert "--restore" in restore["command"], restore["command"]
berth_ct = next(r for r in ran if r["name"] == "berth ct")
assert len(berth_ct["phases"]) >= 5, berth_ct["phases"]
print("ok:", ", ".join(sorted(names)))
PY

check "the table says when VM times are emulated, and only then" python3 - "$scratch/out.json" "$scratch/table" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
table = open(sys.argv[2]).read()
vm = [r for r in data["runtimes"] if r["mode"] == "vm"]
if data["vm_note"]:
    assert all(r["emulated"] for r in vm), "vm_note set but a VM row is not emulated"
    assert "VM TIMES ARE EMULATED" in table and "berth vm *" in table, table
else:
    assert not any(r["emulated"] for r in vm) and "EMULATED" not in table, table
PY

check "SVG: well-formed XML, one bar per runtime that ran, one rect per phase" python3 - "$scratch/out.json" "$scratch/out.svg" <<'PY'
import json, sys
import xml.etree.ElementTree as ET
data = json.load(open(sys.argv[1]))
root = ET.parse(sys.argv[2]).getroot()
ns = "{http://www.w3.org/2000/svg}"
assert root.tag == ns + "svg", root.tag
bars = [g for g in root.iter(ns + "g") if g.get("class") == "bar"]
ran = [r for r in data["runtimes"] if "skipped" not in r]
assert [b.get("data-runtime") for b in bars] == [r["name"] for r in ran] or \
    sorted(b.get("data-runtime") for b in bars) == sorted(r["name"] for r in ran), \
    ([b.get("data-runtime") for b in bars], [r["name"] for r in ran])
for bar in bars:
    runtime = next(r for r in ran if r["name"] == bar.get("data-runtime"))
    rects = [e for e in bar.iter(ns + "rect") if e.get("class") == "phase"]
    assert [e.get("data-phase") for e in rects] == [p["id"] for p in runtime["phases"]], bar.get("data-runtime")
    assert all(float(e.get("width")) >= 0 for e in rects)
print(len(bars), "bars")
PY
if command -v xmllint >/dev/null; then
    check "SVG: xmllint accepts it" xmllint --noout "$scratch/out.svg"
else
    tap_skip "SVG: xmllint accepts it" "xmllint is not installed (libxml2-utils)"
fi

chromium=$(command -v chromium || command -v chromium-browser || true)
if [[ -z $chromium ]]; then
    tap_skip "Chromium renders the SVG to a PNG" "chromium is not installed"
else
    render() {
        rm -rf "$scratch/profile"
        timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --no-first-run \
            --disable-background-networking --disable-component-update --disable-sync \
            --user-data-dir="$scratch/profile" --enable-logging=stderr --v=0 "$@" \
            "file://$scratch/out.svg"
    }
    render --dump-dom >"$scratch/dom" 2>"$scratch/log"
    render --window-size=1000,700 --screenshot="$scratch/out.png" >/dev/null 2>>"$scratch/log"
    if [[ $(head -c 8 "$scratch/out.png" 2>/dev/null | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] &&
       (( $(stat -c %s "$scratch/out.png") > 5000 )) && ! grep -qi 'parsererror' "$scratch/dom" &&
       grep -q 'class="bar"' "$scratch/dom"; then
        tap_ok "Chromium renders the SVG to a PNG ($(stat -c %s "$scratch/out.png") bytes), no XML error"
    else
        tap_not_ok "Chromium renders the SVG to a PNG"
        grep -i 'error' "$scratch/log" | head -5 | tap_diag "log: "
        grep -i 'parsererror' "$scratch/dom" | head -3 | tap_diag "dom: "
    fi
fi

tap_done
