#!/usr/bin/env bash
# Unpacks the ELF `vmlinux` inside a Linux bzImage (vmlinuz), for booting it through its
# PVH entry (berth vm run --kernel vmlinux). A bzImage's protected-mode part is a small
# decompressor followed by the compressed vmlinux; boot.rst's setup header says where
# it starts (payload_offset), but scanning for each compressor's magic works for every
# protocol version: each candidate is decompressed and kept if it is an ELF file.
# Debian 12's kernels are xz-compressed; gzip, zstd, bzip2, lzma, lzop and lz4 are tried too.
#
# Usage: extract-vmlinux.sh OUTPUT [BZIMAGE]   (default: the newest /boot/vmlinuz-*)
set -euo pipefail
out=${1:?usage: extract-vmlinux.sh OUTPUT [BZIMAGE]}
in=${2:-$(ls -v /boot/vmlinuz-* 2>/dev/null | tail -n 1)}
fail() { echo "extract-vmlinux: $*" >&2; exit 2; }
[[ -n $in ]] || fail "no kernel in /boot; give a bzImage"
[[ -r $in ]] || fail "cannot read $in"

tmp=$(mktemp "$out.XXXXXX")
trap 'rm -f "$tmp"' EXIT
# try OFFSET TOOL...: decompresses the file from byte OFFSET (0-based) with TOOL; true
# when the result is an ELF file. Trailing bytes after the stream make some tools
# complain after they wrote everything, so their status is not the test.
try() {
    local offset=$1
    shift
    tail -c +$((offset + 1)) "$in" | "$@" >"$tmp" 2>/dev/null || true
    [[ $(head -c 4 "$tmp" | od -An -tx1 | tr -d ' ') == 7f454c46 ]]
}
# magic TOOL...: each offset where the magic (a grep -P pattern) occurs, then TOOL.
scan() {
    local pattern=$1
    shift
    command -v "$1" >/dev/null || return 1
    local offset
    for offset in $(LC_ALL=C grep -obaP "$pattern" "$in" | cut -d: -f1 | head -n 20); do
        if try "$offset" "$@"; then
            return 0
        fi
    done
    return 1
}
scan '\xfd7zXZ\x00' xz -dc --single-stream ||
    scan '\x28\xb5\x2f\xfd' zstd -dcq ||
    scan '\x1f\x8b\x08' gzip -dc ||
    scan 'BZh' bzip2 -dc ||
    scan '\x5d\x00\x00\x00' xz -dc --format=lzma ||
    scan '\x89\x4c\x5a' lzop -dc ||
    scan '\x02\x21\x4c\x18' lz4 -dc ||
    fail "found no compressed ELF vmlinux in $in (is it a bzImage? the tool for its compression may be missing)"
mv "$tmp" "$out"
trap - EXIT
