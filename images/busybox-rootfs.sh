#!/usr/bin/env bash
# Builds a minimal root filesystem from Debian's busybox-static: one static binary and
# a link per applet, plus the directories and files a container expects. Cached: a
# finished rootfs (marked by .berth-rootfs) is reused. Usage: busybox-rootfs.sh DIR
set -euo pipefail
out=${1:?usage: busybox-rootfs.sh DIR}
busybox=${BUSYBOX:-/bin/busybox}
if [[ -f "$out/.berth-rootfs" ]]; then
    exit 0
fi
if ! "$busybox" --list-full >/dev/null 2>&1 || ! file_type=$(head -c 4 "$busybox" | od -An -c) ||
    [[ $file_type != *E*L*F* ]]; then
    echo "busybox-rootfs.sh: $busybox is not a busybox binary; install busybox-static" >&2
    exit 2
fi
tmp="$out.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,var,run,home}
chmod 1777 "$tmp/tmp"
cp "$busybox" "$tmp/bin/busybox"
# --list-full prints paths like usr/bin/awk; link each to the one binary.
"$busybox" --list-full | while read -r applet; do
    [[ $applet == bin/busybox ]] && continue
    ln -sf /bin/busybox "$tmp/$applet"
done
cat >"$tmp/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/:/bin/false
PASSWD
cat >"$tmp/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
GROUP
chmod -R a+rX "$tmp"
touch "$tmp/.berth-rootfs"
rm -rf "$out"
mv "$tmp" "$out"
