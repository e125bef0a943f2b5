#!/usr/bin/env bash
# berth as an OCI runtime, driven the way runc's callers drive it (`berth --root DIR
# create --bundle B --pid-file P ID`, start, state, kill, delete) on a bundle whose
# config.json is written like `runc spec`'s, with the busybox rootfs. Then the real
# client: podman with --runtime berth. Needs root (namespaces, cgroups). TAP.
set -u
# shellcheck source=../lib/tap.sh
. "$(dirname "$0")/../lib/tap.sh"
BERTH=${BERTH:?set BERTH to the berth binary}
ROOTFS_SCRIPT=${ROOTFS_SCRIPT:?set ROOTFS_SCRIPT to images/busybox-rootfs.sh}
CACHE=${CT_CACHE:?set CT_CACHE to a directory for the rootfs}

[[ $(id -u) -eq 0 ]] || tap_skip_all "OCI runtime tests need root (namespaces, cgroups)"
command -v python3 >/dev/null || tap_skip_all "python3 writes the config.json (install python3)"
ROOTFS="$CACHE/ct-rootfs"
"$ROOTFS_SCRIPT" "$ROOTFS" >&2 || tap_skip_all "cannot build the busybox rootfs (install busybox-static)"
scratch=$(mktemp -d)
ROOT="$scratch/state"
prefix="berth-oci-test-$$"
cleanup() {
    for dir in "$ROOT"/*/; do
        [[ -d $dir ]] && "$BERTH" --root "$ROOT" delete --force "$(basename "$dir")" 2>/dev/null
    done
    rm -rf "$scratch"
}
trap cleanup EXIT

# bundle NAME ARGS_JSON [EXTRA_PYTHON]: a bundle at $scratch/NAME, config.json as `runc
# spec` writes it (namespaces, limits) with process.args ARGS_JSON; EXTRA_PYTHON may
# change `c`, the config, before it is written.
bundle() {
    mkdir -p "$scratch/$1"
    python3 - "$scratch/$1/config.json" "$ROOTFS" "$2" "${3:-}" <<'EOF'
import json, sys
path, rootfs, args, extra = sys.argv[1:5]
c = {
    "ociVersion": "1.0.2-dev",
    "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": json.loads(args),
                "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                        "TERM=xterm"],
                "cwd": "/", "noNewPrivileges": True},
    "root": {"path": rootfs, "readonly": False},
    "hostname": "ocibox",
    "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
    "annotations": {"org.berth.test": "yes"},
    "linux": {"namespaces": [{"type": t} for t in ["pid", "network", "ipc", "uts", "mount"]],
              "resources": {"memory": {"limit": 67108864}, "pids": {"limit": 64}},
              "maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"]},
}
exec(extra)
json.dump(c, open(path, "w"), indent=2)
EOF
}
# oci ARGS...: berth --root ROOT ARGS; stdout in $scratch/out, stderr in $scratch/err,
# status in $st. The container's own stdio is a file too (never a pipe: init keeps it
# open after berth has exited, and a reader would wait for it).
oci() {
    st=0
    "$BERTH" --root "$ROOT" "$@" >"$scratch/out" 2>"$scratch/err" </dev/null || st=$?
}
status_of() {  # the status field of `berth state ID`
    "$BERTH" --root "$ROOT" state "$1" 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>/dev/null
}
wait_status() {  # wait_status ID STATUS: up to 5 s
    local i
    for ((i = 0; i < 100; i++)); do
        [[ $(status_of "$1") == "$2" ]] && return 0
        sleep 0.05
    done
    return 1
}
fail() {
    tap_not_ok "$1"
    [[ -s $scratch/err ]] && head -5 "$scratch/err" | tap_diag "  err: "
    [[ -s $scratch/out ]] && head -5 "$scratch/out" | tap_diag "  out: "
    return 0
}
check() {  # check NAME CONDITION...
    local name=$1
    shift
    if "$@"; then tap_ok "$name"; else fail "$name (status $st)"; fi
}
one_line_error() {  # one_line_error TEXT: stderr is exactly one line holding TEXT
    [[ $(wc -l <"$scratch/err") -eq 1 ]] && grep -qF -- "$1" "$scratch/err"
}

# --- version
oci --version
check "--version names the runtime-spec version" grep -q '^spec: 1\.' "$scratch/out"

# --- the state machine: create, start, state, kill, delete
bundle hello '["sh", "-c", "echo hi from $(hostname); sleep 30"]'
id="$prefix-a"
st=0
"$BERTH" --root "$ROOT" create --bundle "$scratch/hello" --pid-file "$scratch/a.pid" "$id" \
    >"$scratch/a.stdout" 2>"$scratch/err" </dev/null || st=$?
check "create exits 0" test "$st" -eq 0
pid=$(cat "$scratch/a.pid" 2>/dev/null)
check "create writes init's pid to --pid-file" test -n "$pid" -a -d "/proc/$pid"
oci state "$id"
state_ok=$(python3 - "$scratch/out" "$pid" "$scratch/hello" "$id" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
ok = (s["status"] == "created" and s["pid"] == int(sys.argv[2]) and s["bundle"] == sys.argv[3]
      and s["id"] == sys.argv[4] and s["ociVersion"].startswith("1.")
      and s["annotations"] == {"org.berth.test": "yes"})
print("yes" if ok else "no")
EOF
)
check "state after create: the spec's JSON, status created, init's pid, bundle, annotations" \
    test "$state_ok" = yes
check "the command has not run before start" test ! -s "$scratch/a.stdout"
oci start "$id"
check "start exits 0" test "$st" -eq 0
check "state after start: running" wait_status "$id" running
for _ in $(seq 50); do [[ -s $scratch/a.stdout ]] && break; sleep 0.05; done
check "the command runs with the config's hostname, its output on create's stdout" \
    test "$(cat "$scratch/a.stdout")" = "hi from ocibox"
oci start "$id"
check "a second start is refused" test "$st" -ne 0 -a "$(wc -l <"$scratch/err")" -eq 1
oci delete "$id"
check "delete of a running container is refused without --force" \
    one_line_error "is running; stop it first"
check "... and the container still runs" test "$(status_of "$id")" = running
oci kill "$id" KILL
check "kill KILL exits 0" test "$st" -eq 0
check "state after kill: stopped" wait_status "$id" stopped
oci kill "$id" TERM
check "kill of a stopped container is refused" one_line_error "is not running"
oci delete "$id"
check "delete of a stopped container exits 0" test "$st" -eq 0
check "delete removes the state directory" test ! -e "$ROOT/$id"
check "init is gone" test ! -d "/proc/$pid" -o "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z
oci state "$id"
check "state of a deleted container: does not exist" one_line_error "does not exist"

# run_bundle NAME: create, start, wait for the end and delete a container of bundle
# NAME; its stdout in $scratch/NAME.stdout.
run_bundle() {
    local id="$prefix-run-$1"
    "$BERTH" --root "$ROOT" create --bundle "$scratch/$1" "$id" >"$scratch/$1.stdout" \
        2>"$scratch/err" </dev/null
    "$BERTH" --root "$ROOT" start "$id" 2>>"$scratch/err"
    wait_status "$id" stopped
    "$BERTH" --root "$ROOT" delete "$id" 2>>"$scratch/err"
}

# --- process: capabilities and the environment as config.json gives them
bundle caps '["sh", "-c", "grep -E ^Cap /proc/self/status"]' \
    'c["process"]["capabilities"] = {"bounding": ["CAP_KILL", "CAP_CHOWN"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL", "CAP_CHOWN"]}'
run_bundle caps
# As root, execve makes the permitted and effective sets the bounding set (the kernel's
# rule for uid 0, as under runc): the bounding set is what shows.
check "process.capabilities: the bounding set as given (CAP_CHOWN, CAP_KILL)" \
    test "$(grep -E 'Cap(Prm|Eff|Bnd)' "$scratch/caps.stdout" | awk '{print $2}' | tr '\n' ' ')" = \
    "0000000000000021 0000000000000021 0000000000000021 "
bundle no-caps '["sh", "-c", "grep -E ^CapEff /proc/self/status"]'
run_bundle no-caps
check "no process.capabilities: no capabilities (as the spec reads)" \
    grep -q "0000000000000000" "$scratch/no-caps.stdout"
bundle groups '["sh", "-c", "id -u; id -g; id -G"]' \
    'c["process"]["user"] = {"uid": 1000, "gid": 100, "additionalGids": [5, 27]}'
run_bundle groups
check "process.user: uid, gid and additionalGids" \
    test "$(tr '\n' ' ' <"$scratch/groups.stdout")" = "1000 100 100 5 27 "
bundle env '["env"]' 'c["process"]["env"] = ["PATH=/usr/bin:/bin", "ONLY=this"]'
run_bundle env
check "process.env is the whole environment" test "$(tr '\n' ' ' <"$scratch/env.stdout")" = "PATH=/usr/bin:/bin ONLY=this "
bundle bad-cap '["true"]' 'c["process"]["capabilities"] = {"bounding": ["CAP_KILL", "CAP_NOPE"]}'
oci create --bundle "$scratch/bad-cap" "$prefix-bad-cap"
check "an unknown capability: status 2 naming its path" \
    test "$st" -eq 2 -a "$(grep -c "process.capabilities.bounding\[1\]: 'CAP_NOPE' is not a capability" "$scratch/err")" -eq 1

bundle bad-size '["true"]' 'c["process"]["consoleSize"] = {"height": 70000, "width": 80}'
oci create --bundle "$scratch/bad-size" "$prefix-bad-size"
check "a consoleSize beyond a terminal's 16 bits: status 2 naming its path" \
    test "$st" -eq 2 -a "$(grep -c "process.consoleSize.height: is above 65535" "$scratch/err")" -eq 1

# --- process.terminal: the master goes to --console-socket, the terminal of
# process.consoleSize's size
bundle tty '["sh", "-c", "tty; stty size; sleep 1"]' 'c["process"]["terminal"] = True
c["process"]["consoleSize"] = {"height": 33, "width": 101}'
oci create --bundle "$scratch/tty" "$prefix-tty"
check "process.terminal without --console-socket: status 2" \
    one_line_error "process.terminal is true: give --console-socket"
oci create --bundle "$scratch/tty" --console-socket "$scratch/none.sock" "$prefix-tty"
check "a --console-socket nobody listens on: status 2, no state left" \
    test "$st" -eq 2 -a ! -e "$ROOT/$prefix-tty"
oci create --bundle "$scratch/hello" --console-socket "$scratch/none.sock" "$prefix-tty"
check "--console-socket without process.terminal: status 2" \
    one_line_error "--console-socket needs process.terminal true"
# A console socket as conmon holds one: accept, take the master, read the command's output.
python3 - "$scratch/console.sock" "$scratch/console.out" <<'PYTHON' &
import array, os, socket, sys
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(sys.argv[1]); server.listen(1); server.settimeout(20)
connection, _ = server.accept()
fds = array.array("i")
message, ancillary, _, _ = connection.recvmsg(64, socket.CMSG_LEN(fds.itemsize))
fds.frombytes(ancillary[0][2][:fds.itemsize])
output = b""
while output.count(b"\n") < 2:
    output += os.read(fds[0], 100)
open(sys.argv[2], "wb").write(output)
PYTHON
listener=$!
for _ in $(seq 100); do [[ -S $scratch/console.sock ]] && break; sleep 0.05; done
oci create --bundle "$scratch/tty" --console-socket "$scratch/console.sock" "$prefix-tty"
check "create with process.terminal and --console-socket exits 0" test "$st" -eq 0
oci start "$prefix-tty"
wait "$listener"
check "the console socket got the master; the command's tty is /dev/pts/0" \
    test "$(tr -d '\r' <"$scratch/console.out" 2>/dev/null | head -n 1)" = /dev/pts/0
check "process.consoleSize: the terminal has 33 rows of 101 columns before the command runs" \
    test "$(tr -d '\r' <"$scratch/console.out" 2>/dev/null | sed -n 2p)" = "33 101"
oci delete --force "$prefix-tty"

# --- bind mounts: host paths into the rootfs, options applied, symlinks kept inside
mkdir -p "$scratch/hostdir" "$scratch/escape-target"
echo host-file >"$scratch/hostfile"
cp -a "$ROOTFS" "$scratch/rootfs-copy"
# The link's target exists on the host and, under the same path, inside the rootfs: the
# binding must land in the rootfs's.
ln -s "$scratch/escape-target" "$scratch/rootfs-copy/escape"
mkdir -p "$scratch/rootfs-copy/$scratch/escape-target"
bundle binds '["sh", "-c", "cat /etc/berth-test; echo x > /data/new && echo rw; echo y > /etc/berth-test || echo ro; cat /escape/f"]' "
c['root']['path'] = '$scratch/rootfs-copy'
c['mounts'] += [
    {'destination': '/etc/berth-test', 'type': 'bind', 'source': '$scratch/hostfile', 'options': ['rbind', 'ro']},
    {'destination': '/data', 'type': 'bind', 'source': '$scratch/hostdir', 'options': ['bind', 'rw']},
    {'destination': '/escape/f', 'type': 'bind', 'source': '$scratch/hostfile', 'options': ['bind']},
]"
run_bundle binds
check "a read-only bind mount of a host file, a writable one of a directory" \
    test "$(head -3 "$scratch/binds.stdout" | tr '\n' ' ')" = "host-file rw ro " -a -f "$scratch/hostdir/new"
check "a destination through a symlink in the rootfs stays inside the rootfs" \
    test "$(sed -n 4p "$scratch/binds.stdout")" = host-file -a ! -e "$scratch/escape-target/f" \
    -a -f "$scratch/rootfs-copy/$scratch/escape-target/f"
check "the host's file is unchanged" test "$(cat "$scratch/hostfile")" = host-file
rm -rf "${scratch:?}/rootfs-copy/${scratch:?}"
run_bundle binds
check "a mount point through a symlink that dangles inside the rootfs is refused, not made on the host" \
    test "$(grep -c "mount '/escape/f': cannot open directory '/escape'" "$scratch/err")" -ge 1 \
    -a ! -e "$scratch/escape-target/f"
bundle bind-missing '["true"]' "c['mounts'].append({'destination': '/x', 'type': 'bind', 'source': '$scratch/nope'})"
oci create --bundle "$scratch/bind-missing" "$prefix-bind-missing"
check "a bind mount whose source is missing: status 2 naming mounts[1].source" \
    test "$st" -eq 2 -a "$(grep -c "mounts\[1\].source: '$scratch/nope'" "$scratch/err")" -eq 1

# --- joining a network namespace by path (podman hands over the one CNI set up)
netns="berth-oci-test-$$"
if ip netns add "$netns" 2>/dev/null; then
    bundle join '["readlink", "/proc/self/ns/net"]' \
        "c['linux']['namespaces'][1]['path'] = '/run/netns/$netns'"
    id="$prefix-join"
    "$BERTH" --root "$ROOT" create --bundle "$scratch/join" "$id" >"$scratch/join.stdout" \
        2>"$scratch/err" </dev/null
    "$BERTH" --root "$ROOT" start "$id" 2>>"$scratch/err"
    wait_status "$id" stopped
    "$BERTH" --root "$ROOT" delete "$id" 2>>"$scratch/err"
    check "linux.namespaces network with a path: the container is in that namespace" \
        test "$(cat "$scratch/join.stdout")" = "net:[$(stat -L -c %i "/run/netns/$netns")]"
    ip netns del "$netns"
else
    tap_skip "linux.namespaces network with a path" "ip netns add failed here"
fi

# --- kill by name and number; the command's signal passes through init
id="$prefix-b"
oci create --bundle "$scratch/hello" "$id"
oci start "$id"
oci kill "$id" 15
check "kill ID 15 stops a running sh (init passes SIGTERM on)" wait_status "$id" stopped
oci delete "$id"

# --- delete --force of a running container
id="$prefix-c"
oci create --bundle "$scratch/hello" --pid-file "$scratch/c.pid" "$id"
oci start "$id"
pid=$(cat "$scratch/c.pid")
cgroups=$(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["cgroups"]))' \
    "$ROOT/$id/record.json")
check "the memory and pids limits made cgroups" test -n "$cgroups"
check "the cgroups hold the limits" \
    grep -qx 67108864 "$(tr ' ' '\n' <<<"$cgroups" | grep memory)/memory.limit_in_bytes"
oci delete --force "$id"
check "delete --force of a running container exits 0" test "$st" -eq 0
gone=yes
[[ -e $ROOT/$id ]] && gone=no
for dir in $cgroups; do [[ -e $dir ]] && gone=no; done
[[ -d /proc/$pid && $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] && gone=no
check "... and leaves no process, cgroup or state" test "$gone" = yes
oci delete --force "$id"
check "delete --force of an unknown container succeeds (callers clean up twice)" test "$st" -eq 0

# --- kill of a created container, delete of a created one
id="$prefix-d"
oci create --bundle "$scratch/hello" "$id"
oci delete "$id"
check "delete of a created (never started) container exits 0" test "$st" -eq 0 -a ! -e "$ROOT/$id"

# --- bad input: one line, status 2, nothing left behind
id="$prefix-e"
oci create --bundle "$scratch/hello" "$id"
oci create --bundle "$scratch/hello" "$id"
check "a duplicate ID is refused (status 2)" test "$st" -eq 2
check "... with one line naming it" one_line_error "container '$id' exists"
check "... and the first container is untouched" test "$(status_of "$id")" = created
oci delete --force "$id"

bundle empty-args '[]'
oci create --bundle "$scratch/empty-args" "$prefix-f"
check "empty process.args: status 2" test "$st" -eq 2
check "... one line with the JSON path" \
    one_line_error "config.json: process.args: expected a non-empty array of strings"
check "... and no state left" test ! -e "$ROOT/$prefix-f"
bundle bad-ns '["true"]' 'c["linux"]["namespaces"].append({"type": "bogus"})'
oci create --bundle "$scratch/bad-ns" "$prefix-g"
check "an unknown namespace type: status 2 naming the path" \
    test "$st" -eq 2 -a "$(grep -c "linux.namespaces\[5\].type: unknown namespace type 'bogus'" "$scratch/err")" -eq 1
bundle v2 '["true"]' 'c["ociVersion"] = "2.0.0"'
oci create --bundle "$scratch/v2" "$prefix-h"
check "an ociVersion major berth does not speak: status 2" \
    test "$st" -eq 2 -a "$(grep -c "ociVersion: '2.0.0' is not a version berth speaks" "$scratch/err")" -eq 1
bundle join-file '["true"]' 'c["linux"]["namespaces"][1]["path"] = "/etc/hostname"'
oci create --bundle "$scratch/join-file" "$prefix-i"
check "a network namespace path that is no namespace: status 2" \
    test "$st" -eq 2 -a "$(grep -c "linux.namespaces\[1\].path: '/etc/hostname' is not a network namespace" "$scratch/err")" -eq 1
oci create --bundle "$scratch/missing" "$prefix-j"
check "a missing bundle: status 2" test "$st" -eq 2
bundle no-rootfs '["true"]' 'c["root"]["path"] = "/nonexistent/rootfs"'
oci create --bundle "$scratch/no-rootfs" "$prefix-k"
check "a missing rootfs: status 2, no state left" test "$st" -eq 2 -a ! -e "$ROOT/$prefix-k"
oci create --bundle "$scratch/hello" --pid-file "$scratch/missing/pid" "$prefix-pidfile"
leftover=$(find /sys/fs/cgroup -maxdepth 6 -name "berth-$prefix-pidfile" 2>/dev/null; pgrep -f -- "$prefix-pidfile")
check "a pid file that cannot be written: status 2; the init and cgroups made meanwhile are gone" \
    test "$st" -eq 2 -a ! -e "$ROOT/$prefix-pidfile" -a -z "$leftover"
oci create --bundle "$scratch/hello" "bad/id"
check "an ID with a slash: status 2" test "$st" -eq 2
oci --systemd-cgroup create --bundle "$scratch/hello" "$prefix-l"
check "--systemd-cgroup is refused (no systemd here)" one_line_error "no systemd cgroup driver"
"$BERTH" --root "$ROOT" --log "$scratch/log.json" --log-format json create \
    --bundle "$scratch/empty-args" "$prefix-m" >/dev/null 2>&1
check "--log-format json: the error in the log as JSON" python3 - "$scratch/log.json" <<'EOF'
import json, sys
line = json.loads(open(sys.argv[1]).read().splitlines()[-1])
sys.exit(not (line["level"] == "error" and "process.args" in line["msg"] and "time" in line))
EOF
"$BERTH" --root "$ROOT" --log "$scratch/log.txt" state "$prefix-none" >/dev/null 2>&1
check "--log (text): the error in logrus's form" grep -q '^time=".*" level=error msg=".*does not exist' "$scratch/log.txt"
left=$(ls "$ROOT" 2>/dev/null | wc -l)
check "the bad inputs left no state directory" test "$left" -eq 0

# --- run: create + start + wait + delete, the command's status
bundle run7 '["sh", "-c", "echo ran in $(hostname); exit 7"]'
oci run --bundle "$scratch/run7" "$prefix-run7"
check "run: the command's output and its exit status (7)" \
    test "$st" -eq 7 -a "$(cat "$scratch/out")" = "ran in ocibox"
check "run: the container is deleted after it" test ! -e "$ROOT/$prefix-run7"
bundle sleeper '["sleep", "30"]'
oci run -d --bundle "$scratch/sleeper" --pid-file "$scratch/d.pid" "$prefix-run-d"
check "run -d: returns 0 with the container running" \
    test "$st" -eq 0 -a "$(status_of "$prefix-run-d")" = running -a -s "$scratch/d.pid"
oci run --bundle "$scratch/sleeper" "$prefix-run-d"
check "run with an ID in use: status 2, one line" \
    test "$st" -eq 2 && one_line_error "container '$prefix-run-d' exists"
oci run --bundle "$scratch/tty" -d "$prefix-run-tty"
check "run -d with process.terminal and no --console-socket: status 2, nothing left" \
    test "$st" -eq 2 -a ! -e "$ROOT/$prefix-run-tty"

# --- exec into the running container
id="$prefix-run-d"
oci exec "$id" sh -c 'hostname; readlink /proc/self/ns/pid; echo $$'
check "exec: runs in the container (its hostname)" test "$st" -eq 0 -a "$(sed -n 1p "$scratch/out")" = ocibox
init_pidns=$(readlink "/proc/$(cat "$scratch/d.pid")/ns/pid")
check "exec: in the container's pid namespace" test "$(sed -n 2p "$scratch/out")" = "$init_pidns"
oci exec "$id" sh -c 'exit 5'
check "exec: the process's exit status (5)" test "$st" -eq 5
oci exec --env FOO=bar --cwd /tmp "$id" sh -c 'echo $FOO; pwd'
check "exec --env and --cwd" test "$(tr '\n' ' ' <"$scratch/out")" = "bar /tmp "
oci exec --user 1000:100 "$id" id -u
check "exec --user" test "$(cat "$scratch/out")" = 1000
cat >"$scratch/process.json" <<'JSON'
{"terminal": false, "user": {"uid": 33, "gid": 33}, "args": ["sh", "-c", "id -u; echo $ONLY"],
 "env": ["PATH=/bin:/usr/bin", "ONLY=from-process-json"], "cwd": "/"}
JSON
oci exec --process "$scratch/process.json" "$id"
check "exec --process FILE: its user, args and env" \
    test "$st" -eq 0 -a "$(tr '\n' ' ' <"$scratch/out")" = "33 from-process-json "
oci exec -d --pid-file "$scratch/exec.pid" "$id" sleep 20
exec_pid=$(cat "$scratch/exec.pid" 2>/dev/null)
check "exec -d --pid-file: returns at once, the process runs" \
    test "$st" -eq 0 -a -n "$exec_pid" -a -d "/proc/$exec_pid"
cgroup_of() { grep -E ':(memory|freezer):' "/proc/$1/cgroup" | sort; }
check "exec: the process is in the container's cgroups" \
    test -n "$(cgroup_of "$exec_pid")" -a "$(cgroup_of "$exec_pid")" = "$(cgroup_of "$(pgrep -P "$(cat "$scratch/d.pid")" sleep | head -1)")"
oci ps --format json "$id"
check "ps --format json: init and the exec'd process" python3 - "$scratch/out" "$(cat "$scratch/d.pid")" "$exec_pid" <<'EOF2'
import json, sys
pids = json.load(open(sys.argv[1]))
sys.exit(not (int(sys.argv[2]) in pids and int(sys.argv[3]) in pids and len(pids) == 3))
EOF2
oci ps "$id"
check "ps (table): ps -ef's header and the container's rows only" \
    test "$(head -1 "$scratch/out" | awk '{print $2}')" = PID -a "$(sed 1d "$scratch/out" | wc -l)" -eq 3 \
    -a "$(grep -c "sleep 20" "$scratch/out")" -eq 1
oci exec "$id" no-such-command
check "exec of a command the container lacks: 127, one line" \
    test "$st" -eq 127 && one_line_error "no-such-command"
echo '{"args": "sh", "cwd": "/", "user": {"uid": 0, "gid": 0}}' >"$scratch/bad-process.json"
oci exec --process "$scratch/bad-process.json" "$id"
check "exec --process with a malformed process: status 2, one line naming the file and path" \
    test "$st" -eq 2 && one_line_error "--process '$scratch/bad-process.json': args: expected"
echo '{"args": [' >"$scratch/broken.json"
oci exec --process "$scratch/broken.json" "$id"
check "exec --process with broken JSON: status 2, one line" \
    test "$st" -eq 2 && one_line_error "not valid JSON"
oci exec "$prefix-none" true
check "exec in an unknown container: status 2" test "$st" -eq 2 && one_line_error "does not exist"
oci exec "$id"
check "exec without a command or --process: status 2" test "$st" -eq 2
check "... the bad execs left no process in the container (init, sleep 30, sleep 20)" \
    test "$("$BERTH" --root "$ROOT" ps --format json "$id" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" -eq 3

bundle quick '["true"]'
oci create --bundle "$scratch/quick" "$prefix-stopped"
oci start "$prefix-stopped"
wait_status "$prefix-stopped" stopped
oci exec "$prefix-stopped" true
check "exec in a stopped container: refused, one line" test "$st" -ne 0 && one_line_error "it has stopped"
oci pause "$prefix-stopped"
check "pause of a stopped container: refused" test "$st" -ne 0 && one_line_error "is stopped: only a running or created"
oci delete "$prefix-stopped"

# --- list
oci list
check "list: the table's header and the running container" \
    test "$(head -1 "$scratch/out" | tr -s ' ')" = "ID PID STATUS BUNDLE CREATED OWNER" \
    -a "$(grep "^$id " "$scratch/out" | awk '{print $3}')" = running
oci list --format json
check "list --format json: id, pid, status, bundle, rootfs" python3 - "$scratch/out" "$id" "$(cat "$scratch/d.pid")" "$ROOTFS" <<'EOF2'
import json, sys
entries = {c["id"]: c for c in json.load(open(sys.argv[1]))}
c = entries[sys.argv[2]]
sys.exit(not (c["pid"] == int(sys.argv[3]) and c["status"] == "running" and c["rootfs"] == sys.argv[4]
              and c["owner"] == "root"))
EOF2
oci list -q
check "list -q: the IDs" grep -qx "$id" "$scratch/out"
oci list --format yaml
check "list --format yaml: status 2" test "$st" -eq 2 && one_line_error "--format 'yaml' is not table or json"

# --- pause and resume (the freezer cgroup)
oci pause "$id"
check "pause exits 0; state says paused" test "$st" -eq 0 -a "$(status_of "$id")" = paused
freezer=$(python3 -c 'import json,sys; print([d for d in json.load(open(sys.argv[1]))["cgroups"] if "freezer" in d][0])' "$ROOT/$id/record.json")
check "... the container's freezer cgroup is FROZEN" grep -qx FROZEN "$freezer/freezer.state"
check "... and its process is frozen (stopped in the freezer)" \
    test "$(awk '{print $3}' "/proc/$exec_pid/stat")" = D
oci pause "$id"
check "pause of a paused container: refused" test "$st" -ne 0 && one_line_error "is paused: only a running or created"
oci exec "$id" true
check "exec in a paused container: refused" test "$st" -ne 0 && one_line_error "it is paused"
oci delete "$id"
check "delete of a paused container without --force: refused" test "$st" -ne 0 && one_line_error "is paused; stop it first"
oci resume "$id"
check "resume exits 0; state says running" test "$st" -eq 0 -a "$(status_of "$id")" = running
oci resume "$id"
check "resume of a running container: refused" test "$st" -ne 0 && one_line_error "only a paused container can be resumed"
oci pause "$prefix-none"
check "pause of an unknown container: status 2" test "$st" -eq 2
oci pause "$id"
oci delete --force "$id"
check "delete --force of a paused container: exit 0, nothing left" \
    test "$st" -eq 0 -a ! -e "$ROOT/$id" -a ! -e "$freezer" -a ! -d "/proc/$exec_pid"
oci resume "$id"
check "resume of a deleted container: does not exist" one_line_error "does not exist"

# --- features and spec
oci features
check "features: the runtime-spec features document" python3 - "$scratch/out" <<'EOF2'
import json, sys
f = json.load(open(sys.argv[1]))
l = f["linux"]
sys.exit(not (f["ociVersionMin"] == "1.0.0" and f["ociVersionMax"].startswith("1.")
              and "pid" in l["namespaces"] and "user" in l["namespaces"] and "time" in l["namespaces"]
              and "CAP_SYS_ADMIN" in l["capabilities"] and l["cgroup"]["systemd"] is False))
EOF2
mkdir -p "$scratch/specbundle"
(cd "$scratch/specbundle" && "$BERTH" spec) >"$scratch/out" 2>"$scratch/err"
check "spec writes config.json in the current directory" test -s "$scratch/specbundle/config.json"
oci spec --bundle "$scratch/specbundle"
check "spec with a config.json there: status 2, not overwritten" \
    test "$st" -eq 2 && one_line_error "config.json' exists; remove it first"
oci spec --rootless --bundle "$scratch"
check "spec --rootless: refused (status 2), nothing written" \
    test "$st" -eq 2 -a ! -e "$scratch/config.json" && one_line_error "spec --rootless"
python3 - "$scratch/specbundle/config.json" "$ROOTFS" <<'EOF2'
import json, sys
c = json.load(open(sys.argv[1]))
assert c["process"]["args"] == ["sh"] and c["root"]["path"] == "rootfs"
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c", "hostname; grep CapEff /proc/self/status; exit 4"]
c["root"]["path"] = sys.argv[2]
json.dump(c, open(sys.argv[1], "w"))
EOF2
oci run --bundle "$scratch/specbundle" "$prefix-spec"
check "berth runs its own default spec (hostname berth, its capabilities, the status)" \
    test "$st" -eq 4 -a "$(sed -n 1p "$scratch/out")" = berth -a "$(sed -n 2p "$scratch/out" | awk '{print $2}')" = 0000000020000420

# --- a create killed part-way: init does not wait forever, delete cleans up
bundle gate '["sh", "-c", "echo started"]'
leftovers=0
waiting=0
for delay in 0.002 0.005 0.01 0.02 0.03 0.05 0.08; do
    id="$prefix-killed-${delay#0.}"
    "$BERTH" --root "$ROOT" create --bundle "$scratch/gate" "$id" >"$scratch/killed.out" 2>/dev/null </dev/null &
    sleep "$delay"
    kill -9 $! 2>/dev/null
    wait $! 2>/dev/null
    if [[ ! -e $ROOT/$id/record.json ]]; then
        # Not recorded: init must end by itself.
        for _ in $(seq 50); do pgrep -f -- "create --bundle $scratch/gate $id\$" >/dev/null || break; sleep 0.02; done
        pgrep -f -- "create --bundle $scratch/gate $id\$" >/dev/null && waiting=$((waiting + 1))
    fi
    # Nothing to delete when create was killed before it made the state directory.
    [[ -e $ROOT/$id ]] && "$BERTH" --root "$ROOT" delete "$id" 2>>"$scratch/killed.err"
    sleep 0.05
    [[ -e $ROOT/$id ]] && leftovers=$((leftovers + 1))
    pgrep -f -- "create --bundle $scratch/gate $id\$" >/dev/null && leftovers=$((leftovers + 1))
    [[ -n $(find /sys/fs/cgroup -maxdepth 6 -name "berth-$id" 2>/dev/null) ]] && leftovers=$((leftovers + 1))
done
check "a create killed before it recorded the container: its init exits by itself" test "$waiting" -eq 0
check "... and delete removes all of it (no state, process or cgroup)" test "$leftovers" -eq 0 -a ! -s "$scratch/killed.out"
if [[ -s $scratch/killed.err ]]; then head -3 "$scratch/killed.err" | tap_diag "  delete: "; fi

# --- config.json fields: seccomp, rlimits, hooks, cgroupsPath and update, joined namespaces
# shellcheck source=oci-config-tests.sh
. "$(dirname "$0")/oci-config-tests.sh"
# --- mounts, masked and read-only paths, propagation, devices
# shellcheck source=oci-mount-tests.sh
. "$(dirname "$0")/oci-mount-tests.sh"
# --- time namespaces: new with offsets, joined, and exec into both
# shellcheck source=oci-time-tests.sh
. "$(dirname "$0")/oci-time-tests.sh"

# --- 100 cycles of create, start, delete leave nothing behind
bundle true '["true"]'
mounts_before=$(wc -l </proc/self/mountinfo)
pids=()
starts=()
cycle_cgroups=()
for i in $(seq 100); do
    id="$prefix-cycle-$i"
    "$BERTH" --root "$ROOT" create --bundle "$scratch/true" --pid-file "$scratch/cycle.pid" "$id" \
        >/dev/null 2>>"$scratch/cycle.err" </dev/null
    pids+=("$(cat "$scratch/cycle.pid")")
    # Its start time too: pid_max is 32768 here, and the machine's other work can wrap
    # the pids around and hand one of these to an unrelated process before the check.
    starts+=("$(awk '{print $22}' "/proc/${pids[-1]}/stat" 2>/dev/null)")
    cycle_cgroups+=($(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["cgroups"]))' \
        "$ROOT/$id/record.json"))
    "$BERTH" --root "$ROOT" start "$id" 2>>"$scratch/cycle.err"
    wait_status "$id" stopped
    "$BERTH" --root "$ROOT" delete "$id" 2>>"$scratch/cycle.err"
done
check "100 cycles: no error" test ! -s "$scratch/cycle.err"
check "100 cycles: no state directory left" test "$(ls "$ROOT" | wc -l)" -eq 0
check "100 cycles: no mount left" test "$(wc -l </proc/self/mountinfo)" -eq "$mounts_before"
left=0
for dir in "${cycle_cgroups[@]}"; do [[ -e $dir ]] && left=$((left + 1)); done
check "100 cycles made memory, pids, cpu and freezer cgroups" test "${#cycle_cgroups[@]}" -eq 400
check "100 cycles: no cgroup directory left" test "$left" -eq 0
alive=0
for i in "${!pids[@]}"; do
    pid=${pids[$i]}
    # shellcheck disable=SC2046 # the two fields: state, start time
    set -- $(awk '{print $3, $22}' "/proc/$pid/stat" 2>/dev/null)
    if [[ $# -eq 2 && $1 != Z && $2 == "${starts[$i]}" ]]; then
        alive=$((alive + 1))
        echo "left: pid $pid ($1): $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" | tap_diag "  "
    fi
done
check "100 cycles: no process left (same pid and start time as at create)" test "$alive" -eq 0

tap_done
