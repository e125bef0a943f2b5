#!/usr/bin/env bash
# The real client: podman (4.3, Debian 12) with berth as its OCI runtime, on an image
# imported offline from the busybox rootfs. podman's conmon calls `berth create`,
# `start` and `delete --force` (and exec, kill for stop); the container's output and exit
# status must come back through podman. Needs root and podman (a TAP skip without them). TAP.
set -u
# shellcheck source=../lib/tap.sh
. "$(dirname "$0")/../lib/tap.sh"
BERTH=${BERTH:?set BERTH to the berth binary}
ROOTFS_SCRIPT=${ROOTFS_SCRIPT:?set ROOTFS_SCRIPT to images/busybox-rootfs.sh}
CACHE=${CT_CACHE:?set CT_CACHE to a directory for the rootfs}

[[ $(id -u) -eq 0 ]] || tap_skip_all "podman as root drives berth as root (namespaces, cgroups)"
command -v podman >/dev/null || tap_skip_all "podman is not installed (apt-get install podman)"
ROOTFS="$CACHE/ct-rootfs"
"$ROOTFS_SCRIPT" "$ROOTFS" >&2 || tap_skip_all "cannot build the busybox rootfs (install busybox-static)"
image=berth-busybox
if ! podman image exists "$image"; then
    tar -C "$ROOTFS" -c . | podman import - "$image" >/dev/null ||
        tap_skip_all "podman cannot import an image here"
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# BERTH must be an absolute path: podman runs it from elsewhere.
berth=$(realpath "$BERTH")

# podman run ARGS...: output in $scratch/out and err, status in $st.
prun() {
    st=0
    timeout 120 podman --runtime "$berth" run --rm "$@" \
        >"$scratch/out" 2>"$scratch/err" </dev/null || st=$?
}
# shellcheck source=client-checks.sh
. "$(dirname "$0")/client-checks.sh"

prun "$image" echo hi
check "podman run --rm IMAGE echo hi: prints hi, status 0" test "$st" -eq 0 -a "$(cat "$scratch/out")" = hi
prun "$image" sh -c 'exit 3'
check "the command's exit status comes back through podman" test "$st" -eq 3
prun --network none "$image" sh -c 'echo $$; hostname; ls /sys/class/net'
check "--network none: a pid namespace, podman's hostname, only lo" \
    test "$(sed -n 1p "$scratch/out")" -le 2 -a -n "$(sed -n 2p "$scratch/out")" -a "$(sed -n '3,$p' "$scratch/out")" = lo
prun "$image" ls /sys/class/net
check "the default network: the namespace podman made (CNI), eth0 in it" grep -qx eth0 "$scratch/out"
prun -t "$image" tty
check "podman run -t: the terminal through --console-socket, the container's own devpts" \
    test "$st" -eq 0 -a "$(tr -d '\r' <"$scratch/out")" = /dev/pts/0
st=0
echo piped | timeout 120 podman --runtime "$berth" run --rm -i "$image" cat >"$scratch/out" 2>"$scratch/err" || st=$?
check "podman run -i: stdin reaches the command" test "$st" -eq 0 -a "$(cat "$scratch/out")" = piped
mkdir -p "$scratch/volume"
echo from-the-host >"$scratch/volume/file"
prun -v "$scratch/volume:/data:ro" "$image" sh -c 'cat /data/file; touch /data/x 2>/dev/null || echo read-only; cat /etc/hostname'
check "podman -v DIR:/data:ro and its own /etc/hostname bind mount" \
    test "$st" -eq 0 -a "$(head -2 "$scratch/out" | tr '\n' ' ')" = "from-the-host read-only " -a -n "$(sed -n 3p "$scratch/out")"
# podman CMD ARGS...: output in $scratch/out and err, status in $st.
pman() {
    st=0
    timeout 120 podman --runtime "$berth" "$@" >"$scratch/out" 2>"$scratch/err" </dev/null || st=$?
}
name="berth-podman-test-$$"
trap 'podman --runtime "$berth" rm -f -t 0 "$name" >/dev/null 2>&1; rm -rf "$scratch"' EXIT
pman run -d --name "$name" "$image" sh -c 'echo logged-line; sleep 60'
check "podman run -d: the container runs (berth create and start through conmon)" test "$st" -eq 0
pman ps --filter "name=$name" --format '{{.Names}} {{.Status}}'
check "podman ps: the container is Up" grep -q "^$name Up" "$scratch/out"
pman exec "$name" sh -c 'echo in-exec; cat /proc/1/cgroup >/dev/null; hostname'
check "podman exec: berth exec --process runs the command in the container" \
    test "$st" -eq 0 -a "$(sed -n 1p "$scratch/out")" = in-exec -a -n "$(sed -n 2p "$scratch/out")"
pman exec "$name" sh -c 'exit 6'
check "podman exec: the process's exit status comes back (6)" test "$st" -eq 6
pman exec "$name" no-such-command
check "podman exec of a missing command: non-zero" test "$st" -ne 0
pman exec -t "$name" tty
check "podman exec -t: a terminal from the container's devpts through --console-socket" \
    test "$st" -eq 0 -a "$(tr -d '\r' <"$scratch/out")" = /dev/pts/0
st=0
echo via-stdin | timeout 120 podman --runtime "$berth" exec -i "$name" cat >"$scratch/out" 2>"$scratch/err" || st=$?
check "podman exec -i: stdin reaches the process" test "$st" -eq 0 -a "$(cat "$scratch/out")" = via-stdin
pman logs "$name"
check "podman logs: the container's output" grep -qx logged-line "$scratch/out"
started=$(date +%s%N)
pman stop -t 10 "$name"
stopped=$(( ($(date +%s%N) - started) / 1000000 ))
pman ps -a --filter "name=$name" --format '{{.Status}}'
check "podman stop: SIGTERM reaches the command, which exits 143 at once (${stopped} ms)" \
    test "$(cut -d' ' -f1-2 "$scratch/out")" = "Exited (143)" -a "$stopped" -lt 8000
pman rm "$name"
check "podman rm after stop exits 0" test "$st" -eq 0
if command -v script >/dev/null; then
    st=0
    # script's terminal echoes the NUL it reads from /dev/null as "^@".
    timeout 120 script -qec "podman --runtime '$berth' run -it --rm '$image' sh -c 'tty; echo \$TERM'" /dev/null \
        </dev/null >"$scratch/out" 2>"$scratch/err" || st=$?
    check "podman run -it (on script's terminal): the container's tty and TERM" \
        test "$st" -eq 0 -a "$(tr -d '\r' <"$scratch/out" | sed 's/\^@//g' | tr '\n' ' ')" = "/dev/pts/0 xterm "
else
    tap_skip "podman run -it" "script (util-linux) is not installed"
fi
left=$(ls /run/berth/oci 2>/dev/null | wc -l)
check "podman's delete left no state under /run/berth/oci" test "$left" -eq 0

tap_done
