#!/usr/bin/env bash
# Hostile input to berth's host side, as a careless or hostile user would give it: archives
# that climb out of the folder they are unpacked into (symlink then a file through it,
# '../' and absolute names, device nodes, a gzip bomb) for `berth bench startup --image`;
# control characters, newlines, escape sequences and bytes that are not UTF-8 in every
# string flag of `berth ct run` and `berth bench startup`; and the container cases berth
# used to get wrong (the host's / as rootfs, a missing #! interpreter, a /proc that is a
# symlink, empty and zero-padded values). For each run: the exit status, exactly one line
# on stderr with no raw control character, no sanitizer report, no hang (timeout 20), and
# afterwards nothing written outside the scratch folder and every input unchanged.
# Nothing here boots a VM: every bench run fails at its input checks. TAP.
#   BERTH          the berth binary (the sanitizer build's too)
#   ROOTFS_SCRIPT  images/busybox-rootfs.sh (the container cases; root only)
#   CT_CACHE       a folder for that rootfs
set -u
# shellcheck source=../lib/tap.sh
. "$(dirname "$0")/../lib/tap.sh"
BERTH=${BERTH:?set BERTH to the berth binary}
ROOTFS_SCRIPT=${ROOTFS_SCRIPT:-}
CACHE=${CT_CACHE:-}
export LC_ALL=C

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# berth's own temporary folders (the bench's unpacked rootfs) and anything a relative
# path would create land in the scratch folder too.
mkdir -p "$scratch/tmp" "$scratch/cwd" "$scratch/stub"
# A rootfs just good enough to get past the command's lookup: a value that berth accepted
# would start a container (whose /true cannot run) instead of being refused.
printf '#!/bin/sh\n' >"$scratch/stub/true" && chmod +x "$scratch/stub/true"
export TMPDIR=$scratch/tmp
cd "$scratch/cwd" || exit 1
root=no
[[ $(id -u) -eq 0 ]] && root=yes

# run ARGS...: berth ARGS with a 20 s bound; status in $st, stderr in $scratch/err.
run() {
    st=0
    timeout 20 "$BERTH" "$@" >"$scratch/out" 2>"$scratch/err" </dev/null || st=$?
}
# What every run must show besides its status: one line, no raw control byte and valid
# UTF-8 in it, no sanitizer report, no hang (124 is timeout's status).
promise_broken() {
    local lines
    lines=$(wc -l <"$scratch/err")
    if [[ $st -eq 124 ]]; then echo "hung (killed after 20 s)"
    elif [[ $lines -ne 1 ]]; then echo "$lines lines on stderr"
    elif grep -q -e 'Sanitizer' -e 'runtime error:' -e 'ASan is ignoring' "$scratch/err"; then echo "a sanitizer report"
    elif tr -d '\n' <"$scratch/err" | grep -q '[[:cntrl:]]'; then echo "a raw control character"
    elif ! iconv -f UTF-8 -t UTF-8 "$scratch/err" >/dev/null 2>&1; then echo "bytes that are not UTF-8"
    elif ! grep -q '^berth: ' "$scratch/err"; then echo "no 'berth: ' line"
    fi
}
# expect STATUS NAME ARGS...: runs berth ARGS and checks the status and the promise.
expect() {
    local want=$1 name=$2 broken
    shift 2
    run "$@"
    broken=$(promise_broken)
    if [[ $st -eq $want && -z $broken ]]; then
        tap_ok "$name: status $want, one line"
    else
        tap_not_ok "$name: status $want, one line (status $st${broken:+, $broken})"
        head -c 600 "$scratch/err" | cat -A | head -5 | tap_diag "  err: "
    fi
}

# --- archives for berth bench startup --image
# mkcpio OUT [gz] NAME|MODE|DATA...: a newc archive with berth's /init and a /bin/sh (so it
# passes the "serves both modes" check and reaches the unpacking), then the entries.
mkcpio() {
    python3 - "$@" <<'PY'
import gzip, sys
out, rest = sys.argv[1], sys.argv[2:]
zipped = rest[:1] == ["gz"]
rest = rest[1:] if zipped else rest
entries = [("bin", 0o40755, b""), ("bin/sh", 0o120777, b"busybox"),
           ("init", 0o100755, b'#!/bin/sh\nsh -c "$berth_run"\n')]
for spec in rest:
    name, mode, data = spec.split("|", 2)
    entries.append((name, int(mode, 8), data.encode()))
entries.append(("TRAILER!!!", 0, b""))
blob = bytearray()
def pad():
    while len(blob) % 4:
        blob.append(0)
for number, (name, mode, data) in enumerate(entries):
    raw = name.encode() + b"\0"
    fields = [number + 1, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(raw), 0]
    blob += b"070701" + "".join("%08X" % f for f in fields).encode() + raw
    pad()
    blob += data
    pad()
open(out, "wb").write(gzip.compress(bytes(blob)) if zipped else bytes(blob))
PY
}
# A gzip'd stream of zeros: a few hundred KiB that unpack to 1 GiB.
mkbomb() {
    python3 - "$1" <<'PY'
import sys, zlib
out = open(sys.argv[1], "wb")
z = zlib.compressobj(9, zlib.DEFLATED, 31)
chunk = bytes(1 << 20)
for _ in range(1024):
    out.write(z.compress(chunk))
out.write(z.flush())
PY
}

kernel=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1)
a=$scratch/archives
mkdir -p "$a" "$scratch/escape-target" "$scratch/abs-target"
mkcpio "$a/good.cpio"
mkcpio "$a/symlink-then-file.cpio" "escape|120777|$scratch/escape-target" "escape/pwned|100644|owned"
mkcpio "$a/symlink-then-file.cpio.gz" gz "escape|120777|$scratch/escape-target" "escape/pwned|100644|owned"
mkcpio "$a/symlink-then-dir.cpio" "dir|120777|$scratch/escape-target" "dir|40777|"
mkcpio "$a/symlink-then-link.cpio" "up|120777|$scratch" "up/escape-target/link|120777|/etc/passwd"
mkcpio "$a/dotdot.cpio" "../../escape-dotdot|100644|owned"
mkcpio "$a/dotdot-deep.cpio" "bin/../../../escape-dotdot|100644|owned"
mkcpio "$a/absolute.cpio" "$scratch/abs-target/pwned|100644|owned"
# Device nodes are skipped; the '../' after them stops the bench before it runs anything.
mkcpio "$a/devices.cpio" "sda|60660|" "kmem|20640|" "fifo|10644|" "../stop|100644|"
mkbomb "$a/bomb.cpio.gz"
(cd "$a" && sha256sum -- * >"$scratch/archives.sha256")

hostile() {  # hostile NAME ARCHIVE: the bench refuses it before running anything
    if [[ -z $kernel || ! -r $kernel ]]; then
        tap_skip "bench startup --image $1" "no readable /boot/vmlinuz-* (root reads Debian's)"
        return
    fi
    expect 2 "bench startup --image $1" bench startup --container-only --peers none \
        --kernel "$kernel" --image "$a/$2"
}
hostile "symlink, then a file through it" symlink-then-file.cpio
hostile "symlink, then a file through it (gzip'd)" symlink-then-file.cpio.gz
hostile "symlink, then a folder of its name" symlink-then-dir.cpio
hostile "symlink, then a link through it" symlink-then-link.cpio
hostile "a '../' name" dotdot.cpio
hostile "a name that climbs through bin/.." dotdot-deep.cpio
hostile "an absolute name" absolute.cpio
hostile "device nodes and a fifo" devices.cpio
hostile "a gzip bomb (1 GiB of zeros)" bomb.cpio.gz
if [[ -n $kernel && -r $kernel ]]; then
    if grep -q 'more than 256 MiB' "$scratch/err"; then tap_ok "the gzip bomb is a size error naming the cap"
    else tap_not_ok "the gzip bomb is a size error naming the cap"; tap_diag "  err: " <"$scratch/err"; fi
fi
left=$(find "$scratch/escape-target" "$scratch/abs-target" -mindepth 1 | head -3)
if [[ -z $left && ! -e $scratch/escape-dotdot && ! -e $scratch/tmp/escape-dotdot && ! -e $scratch/stop ]]; then
    tap_ok "no archive wrote outside the folder it was unpacked into"
else
    tap_not_ok "no archive wrote outside the folder it was unpacked into"
    echo "$left" | tap_diag "  found: "
fi
tap_check "the bench removed its unpacked folders" test -z "$(ls -A "$scratch/tmp")"

# --- control characters in every string flag
# Values no flag accepts: each must be refused in one line that shows it escaped.
values=($'a\nb' $'x\nberth: forged line' $'\e[2J\e[31mred' $'\x01\x7f' $'\xff\xfe not utf-8' $'tab\there\r')
value_names=("a newline" "a forged berth: line" "escape sequences" "C0 and DEL bytes" "bytes not UTF-8" "tab and CR")
ct_flags=(--rootfs --image --name --hostname --memory --pids --cpus --net --ip --env --workdir --user)
for flag in "${ct_flags[@]}"; do
    for i in "${!values[@]}"; do
        value=${values[$i]}
        args=(ct run --rootfs "$scratch/stub")
        case $flag in
        --rootfs) args=(ct run --rootfs "$scratch/nope/$value") ;;
        --image) args=(ct run --image "$scratch/nope/$value") ;;
        --ip) args+=(--net bridge --ip "$value") ;;
        *) args+=("$flag" "$value") ;;
        esac
        expect 2 "ct run $flag with ${value_names[$i]}" "${args[@]}" -- /true
    done
done
expect 2 "an unknown command word with a newline" $'bo\ngus'
for i in "${!values[@]}"; do
    value=${values[$i]}
    name=${value_names[$i]}
    expect 2 "bench startup --json with $name" bench startup --json "$scratch/nope/$value"
    expect 2 "bench startup --svg with $name" bench startup --svg "$scratch/nope/$value"
    expect 2 "bench startup --from-json with $name" bench startup --from-json "$scratch/nope/$value"
    expect 2 "bench startup --peers with $name" bench startup --peers "$value"
    expect 2 "bench startup --kernel with $name" bench startup --kernel "$scratch/nope/$value"
    if [[ -n $kernel && -r $kernel ]]; then
        expect 2 "bench startup --image with $name" bench startup --kernel "$kernel" \
            --image "$scratch/nope/$value"
        expect 2 "bench startup --initrd with $name" bench startup --kernel "$kernel" \
            --initrd "$scratch/nope/$value" --rootfs "$scratch/stub"
        expect 2 "bench startup --rootfs with $name" bench startup --kernel "$kernel" \
            --initrd "$a/good.cpio" --rootfs "$scratch/nope/$value"
    else
        for flag in --image --initrd --rootfs; do
            tap_skip "bench startup $flag with $name" "no readable /boot/vmlinuz-* (read first)"
        done
    fi
done
tap_skip "bench startup --rig with control characters" \
    "the rig is used only past every input check, where the bench would start VMs"
# A file name from inside an archive is echoed escaped too (a NUL would have cut it).
if [[ -n $kernel && -r $kernel ]]; then
    mkcpio "$a/forged-name.cpio" $'evil\nberth: all fine|120777|/tmp' $'evil\nberth: all fine/x|100644|'
    expect 2 "bench startup: an entry name with a newline and a forged line" bench startup \
        --container-only --peers none --kernel "$kernel" --image "$a/forged-name.cpio"
    (cd "$a" && sha256sum -- forged-name.cpio >>"$scratch/archives.sha256")
else tap_skip "bench startup: an entry name with a newline" "no readable /boot/vmlinuz-*"; fi

# --- ct run: wrong statuses and values accepted silently
expect 2 "ct run --rootfs / (the host's root)" ct run --rootfs / -- /bin/true
ln -s / "$scratch/host-root"
expect 2 "ct run --rootfs LINK-TO-/ (the host's root again)" ct run --rootfs "$scratch/host-root" -- /bin/true
for flag in --rootfs --image --name --hostname --memory --pids --cpus --net --ip --env --workdir --user; do
    args=(ct run --rootfs "$scratch/stub" "$flag" "")
    [[ $flag == --ip ]] && args=(ct run --rootfs "$scratch/stub" --net bridge --ip "")
    expect 2 "ct run $flag '' (an empty value)" "${args[@]}" -- /true
done
for ip in 10.88.0.5/016 10.88.0.05/16 010.88.0.5/16; do
    expect 2 "ct run --ip $ip (a leading zero)" ct run --rootfs "$scratch/stub" --net bridge --ip "$ip" -- /true
done

ROOTFS=
if [[ $root != yes ]]; then
    reason="needs root (namespaces, mounts)"
elif [[ -z $ROOTFS_SCRIPT || -z $CACHE ]]; then
    reason="set ROOTFS_SCRIPT and CT_CACHE for the busybox rootfs"
elif ! "$ROOTFS_SCRIPT" "$CACHE/ct-rootfs" >&2; then
    reason="cannot build the busybox rootfs (install busybox-static)"
else
    ROOTFS=$CACHE/ct-rootfs
fi
rootfs_case() {  # rootfs_case STATUS NAME SETUP: a copy of the rootfs changed by SETUP (run in it)
    local want=$1 name=$2 setup=$3
    if [[ -z $ROOTFS ]]; then tap_skip "ct run: $name" "$reason"; return; fi
    local copy=$scratch/rootfs-copy
    rm -rf "$copy" && cp -a "$ROOTFS" "$copy" && (cd "$copy" && eval "$setup")
    shift 3
    expect "$want" "ct run: $name" ct run --rootfs "$copy" "$@"
    rm -rf "$copy"
}
rootfs_case 127 "a script whose #! interpreter is missing" \
    'printf "#!/nonexistent/interp\necho hi\n" >script && chmod +x script' -- /script
rootfs_case 126 "a file the kernel cannot execute (ENOEXEC)" \
    'printf "\x7fELF garbage" >blob && chmod +x blob' -- /blob
rootfs_case 126 "a command that is not executable" 'echo "echo hi" >script' -- /script
rootfs_case 127 "a command not on PATH" ':' -- no-such-tool
rootfs_case 2 "/proc is a symlink to the host's /tmp" "rmdir proc; ln -s $scratch/tmp proc" -- true
rootfs_case 2 "/dev is a symlink" 'rm -rf dev; ln -s /dev dev' -- true
rootfs_case 2 "/sys is a file" 'rm -rf sys; touch sys' -- true
rootfs_case 2 "--workdir that does not exist inside" ':' --workdir $'/no\nsuch' -- true
if [[ -n $ROOTFS ]]; then
    tap_check "the symlinked /proc case mounted nothing on the host's folder" \
        test -z "$(ls -A "$scratch/tmp")"
fi

# --- afterwards
if (cd "$a" && sha256sum --quiet -c "$scratch/archives.sha256" >/dev/null 2>&1); then
    tap_ok "every input archive is unchanged"
else tap_not_ok "every input archive is unchanged"; fi
stray=$(ls -A "$scratch/cwd")
if [[ -z $stray ]]; then tap_ok "nothing was created in the working folder"
else tap_not_ok "nothing was created in the working folder"; echo "$stray" | cat -A | tap_diag "  found: "; fi
tap_done
