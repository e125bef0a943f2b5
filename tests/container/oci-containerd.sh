#!/usr/bin/env bash
# The other real client: containerd (Debian 12's 1.6) with berth as the runc its runc
# shim (io.containerd.runc.v2) calls, as a Kubernetes node would through a RuntimeClass.
# The test starts its own containerd (its own root, state and socket, no CRI plugin),
# imports the busybox image podman holds (podman save, ctr image import) and runs
# `ctr run --runc-binary berth`: output, exit statuses, exec, pause/resume and kill
# through the shim. Needs root, containerd and podman (a TAP skip without them). TAP.
set -u
# shellcheck source=../lib/tap.sh
. "$(dirname "$0")/../lib/tap.sh"
BERTH=${BERTH:?set BERTH to the berth binary}
ROOTFS_SCRIPT=${ROOTFS_SCRIPT:?set ROOTFS_SCRIPT to images/busybox-rootfs.sh}
CACHE=${CT_CACHE:?set CT_CACHE to a directory for the rootfs}

[[ $(id -u) -eq 0 ]] || tap_skip_all "containerd as root drives berth as root (namespaces, cgroups)"
command -v containerd >/dev/null && command -v ctr >/dev/null ||
    tap_skip_all "containerd is not installed (apt-get install containerd)"
command -v podman >/dev/null || tap_skip_all "podman makes the image (apt-get install podman)"
ROOTFS="$CACHE/ct-rootfs"
"$ROOTFS_SCRIPT" "$ROOTFS" >&2 || tap_skip_all "cannot build the busybox rootfs (install busybox-static)"
image=berth-busybox
if ! podman image exists "$image"; then
    tar -C "$ROOTFS" -c . | podman import - "$image" >/dev/null ||
        tap_skip_all "podman cannot import an image here"
fi
berth=$(realpath "$BERTH")
# A short path: the socket's must fit a unix socket address.
scratch=$(mktemp -d /tmp/berth-ctd.XXXXXX)
socket="$scratch/containerd.sock"
namespace="berth-test-$$"
cat >"$scratch/config.toml" <<TOML
version = 2
root = "$scratch/root"
state = "$scratch/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$socket"
TOML
containerd --config "$scratch/config.toml" >"$scratch/containerd.log" 2>&1 &
containerd_pid=$!
ctr() { command ctr -a "$socket" -n "$namespace" "$@"; }
cleanup() {
    for id in $(ctr task ls -q 2>/dev/null); do ctr task kill -s KILL "$id" >/dev/null 2>&1; done
    sleep 0.3
    for id in $(ctr task ls -q 2>/dev/null); do ctr task rm -f "$id" >/dev/null 2>&1; done
    for id in $(ctr container ls -q 2>/dev/null); do ctr container rm "$id" >/dev/null 2>&1; done
    kill "$containerd_pid" 2>/dev/null
    wait "$containerd_pid" 2>/dev/null
    # The shim's --root for the namespace, empty once the tasks are gone.
    rmdir "/run/containerd/runc/$namespace" 2>/dev/null
    # containerd gives each container the cgroupsPath /NAMESPACE/ID: berth removes the
    # leaf at delete, as runc does; the namespace's parent cgroups are the client's.
    for dir in /sys/fs/cgroup/*/"$namespace" /sys/fs/cgroup/"$namespace"; do
        [[ -d $dir ]] && rmdir "$dir" 2>/dev/null
    done
    rm -rf "$scratch"
}
trap cleanup EXIT
for _ in $(seq 100); do [[ -S $socket ]] && break; sleep 0.05; done
[[ -S $socket ]] || { tail -5 "$scratch/containerd.log" >&2; tap_skip_all "containerd did not start here"; }

# cr ARGS...: ctr ARGS; output in $scratch/out and err, status in $st.
cr() {
    st=0
    timeout 120 "$(command -v ctr)" -a "$socket" -n "$namespace" "$@" >"$scratch/out" 2>"$scratch/err" </dev/null || st=$?
}
# shellcheck source=client-checks.sh
. "$(dirname "$0")/client-checks.sh"

st=0
podman save -o "$scratch/image.tar" "$image" >/dev/null 2>"$scratch/err" || st=$?
cr image import "$scratch/image.tar"
check "ctr image import of podman's busybox image" test "$st" -eq 0
ref=localhost/$image:latest
cr run --rm --runc-binary "$berth" "$ref" "hello-$$" echo hello
check "ctr run --rm --runc-binary berth IMAGE ID echo hello: prints hello, status 0" \
    test "$st" -eq 0 -a "$(cat "$scratch/out")" = hello
cr run --rm --runc-binary "$berth" "$ref" "exit-$$" sh -c 'exit 3'
check "a non-zero exit status comes back through the shim and ctr (3)" test "$st" -eq 3
id="long-$$"
cr run -d --runc-binary "$berth" "$ref" "$id" sleep 60
check "ctr run -d: the task runs" test "$st" -eq 0 -a "$(ctr task ls | awk -v id="$id" '$1 == id {print $3}')" = RUNNING
cr task exec --exec-id e1 "$id" sh -c 'echo exec-ok; exit 4'
check "ctr task exec: berth exec through the shim, its output and status (4)" \
    test "$st" -eq 4 -a "$(cat "$scratch/out")" = exec-ok
cr task pause "$id"
check "ctr task pause: PAUSED" test "$st" -eq 0 -a "$(ctr task ls | awk -v id="$id" '$1 == id {print $3}')" = PAUSED
cr task resume "$id"
check "ctr task resume: RUNNING" test "$st" -eq 0 -a "$(ctr task ls | awk -v id="$id" '$1 == id {print $3}')" = RUNNING
cr task kill -s KILL "$id"
for _ in $(seq 100); do [[ $(ctr task ls | awk -v id="$id" '$1 == id {print $3}') == STOPPED ]] && break; sleep 0.05; done
check "ctr task kill -s KILL: STOPPED" test "$(ctr task ls | awk -v id="$id" '$1 == id {print $3}')" = STOPPED
cr task rm "$id"
cr container rm "$id"
check "ctr task rm and container rm exit 0" test "$st" -eq 0
left=$(ls "/run/containerd/runc/$namespace" 2>/dev/null | wc -l)
check "berth's state under the shim's --root is gone" test "$left" -eq 0

tap_done
