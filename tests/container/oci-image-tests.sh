#!/usr/bin/env bash
# `berth ct run --oci DIR[:TAG]` end to end: images made offline by podman (its own
# store under the scratch folder: `podman import` of the busybox rootfs, `podman build`
# of a second and third layer with a deleted file, `podman save --format oci-dir`,
# `podman push --compression-format zstd oci:DIR`) and by tests/container/oci-layout.py
# (an opaque directory in a zstd layer; hostile layers). The container must see the
# image's files, env, working directory, user and command; layers are unpacked once into
# the cache; bad input is one line, status 2, and leaves nothing in the cache. Needs root
# (TAP skip otherwise). TAP.
set -u
# shellcheck source=../lib/tap.sh
. "$(dirname "$0")/../lib/tap.sh"
BERTH=${BERTH:?set BERTH to the berth binary}
ROOTFS_SCRIPT=${ROOTFS_SCRIPT:?set ROOTFS_SCRIPT to images/busybox-rootfs.sh}
CACHE=${CT_CACHE:?set CT_CACHE to a directory for the rootfs}
LAYOUT_TOOL="$(dirname "$0")/oci-layout.py"

[[ $(id -u) -eq 0 ]] || tap_skip_all "--oci needs root (layers with owners, whiteouts, overlay)"
command -v podman >/dev/null || tap_skip_all "podman is not installed (apt-get install podman)"
ROOTFS="$CACHE/ct-rootfs"
"$ROOTFS_SCRIPT" "$ROOTFS" >&2 || tap_skip_all "cannot build the busybox rootfs (install busybox-static)"
# Under the build folder, not /tmp: the layer cache must hold trusted xattrs and device
# nodes (ext4 here), and the scratch must survive nothing.
scratch=$(mktemp -d "$CACHE/oci-image-tests.XXXXXX")
# podman refuses a runroot path longer than 50 characters, which a build folder deep
# enough (CI's clone) exceeds: the runroot (sockets, locks) goes to a short /tmp name.
runroot=$(mktemp -d /tmp/berth-podrun.XXXXXX)
trap 'rm -rf "$scratch" "$runroot"' EXIT
layers="$scratch/layers"
# podman with a store of its own: nothing of the host's podman is touched.
pod=(podman --root "$scratch/podman/root" --runroot "$runroot" --storage-driver vfs)

fail() {  # the failure, then the start of the last run's stderr and stdout
    tap_not_ok "$1"
    [[ -s $scratch/err ]] && head -5 "$scratch/err" | tap_diag "  err: "
    [[ -s $scratch/out ]] && head -8 "$scratch/out" | tap_diag "  out: "
    return 0
}
check() {  # check NAME CONDITION...
    local name=$1
    shift
    if "$@"; then tap_ok "$name"; else fail "$name (status $st)"; fi
}
# oci REF ARGS...: berth ct run --layer-cache $layers --oci REF ARGS; $scratch/{out,err}, $st.
oci() {
    local ref=$1
    shift
    st=0
    timeout 60 "$BERTH" ct run --layer-cache "${cache:-$layers}" --oci "$ref" "$@" \
        >"$scratch/out" 2>"$scratch/err" </dev/null || st=$?
}
out() { cat "$scratch/out"; }

# --- the images
mkdir -p "$scratch/context"
cat >"$scratch/context/Containerfile" <<'CONTAINERFILE'
FROM localhost/berth-oci-base
RUN mkdir -p /opq && echo old > /opq/old && echo gone > /gone && echo kept > /kept
RUN rm /gone && echo 'tester:x:1234:1235::/home/tester:/bin/sh' >> /etc/passwd && \
    echo 'testers:x:1235:' >> /etc/group && echo 'extra:x:1300:tester' >> /etc/group
ENV GREETING=hello
WORKDIR /work/dir
USER tester
CMD ["echo", "default-cmd"]
CONTAINERFILE
if ! tar -C "$ROOTFS" -c . | "${pod[@]}" import - localhost/berth-oci-base >/dev/null 2>"$scratch/err" ||
    ! "${pod[@]}" build --runtime runc -q -t localhost/berth-oci "$scratch/context" >/dev/null 2>>"$scratch/err" ||
    ! "${pod[@]}" save --format oci-dir -o "$scratch/image" localhost/berth-oci >/dev/null 2>>"$scratch/err"; then
    tap_diag <"$scratch/err"
    tap_skip_all "podman cannot build the test image here"
fi
image="$scratch/image"
tag=localhost/berth-oci:latest  # podman save names the image so

# --- what the container sees
oci "$image"
check "the image's Cmd runs: prints default-cmd" test "$st" -eq 0 -a "$(out)" = default-cmd
oci "$image" sh -c 'id -u; id -g; id -G; pwd; echo $GREETING; echo $PATH'
check "the image's User (by name: uid, primary and extra groups), WorkingDir (made), Env" \
    test "$st" -eq 0 -a "$(out | tr '\n' ' ')" = \
    "1234 1235 1235 1300 /work/dir hello /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "
oci "$image" sh -c 'cat /kept; test -e /gone || echo no-gone; cat /opq/old; test -x /bin/busybox && echo busybox'
check "the files of all three layers, a file deleted by the top one is gone" \
    test "$st" -eq 0 -a "$(out | tr '\n' ' ')" = "kept no-gone old busybox "
oci "$image:$tag" --user 0:0 --workdir /opq --env GREETING=bye sh -c 'id -u; pwd; echo $GREETING'
check "DIR:TAG; --user, --workdir and --env win over the image's" \
    test "$st" -eq 0 -a "$(out | tr '\n' ' ')" = "0 /opq bye "
oci "$image" sh -c 'exit 5'
check "the command's exit status is berth's" test "$st" -eq 5

# --- the cache: unpacked once, never written by a container
count=$(find "$layers/sha256" -mindepth 1 -maxdepth 1 -type d | wc -l)
check "each of the 3 layers unpacked once, by digest" test "$count" -eq 3
before=$(stat -c %i "$layers"/sha256/* | sort | tr '\n' ' ')
oci "$image" --user 0 sh -c 'echo x >/written; rm /kept; echo y >>/opq/old'
after=$(stat -c %i "$layers"/sha256/* | sort | tr '\n' ' ')
# shellcheck disable=SC2016
check "a second run unpacks nothing again; the container's writes stay out of the cache" \
    test "$st" -eq 0 -a "$before" = "$after" -a -z "$(find "$layers" -name written)" \
    -a "$(cat "$layers"/sha256/*/opq/old 2>/dev/null)" = old -a \
    "$(find "$layers" -name kept -type f | wc -l)" -eq 1
oci "$image" --user 0 sh -c 'cat /kept; ls /written 2>/dev/null || echo fresh'
check "each container starts from the image again (its writes went with its tmpfs)" \
    test "$st" -eq 0 -a "$(out | tr '\n' ' ')" = "kept fresh "

# --- an opaque directory in a zstd layer, and Entrypoint (made by hand on top)
printf '%s' '[{"name":"opq/","type":"dir"},{"name":"opq/.wh..wh..opq"},{"name":"opq/fresh","data":"f"},{"name":".wh.kept"}]' >"$scratch/spec"
python3 "$LAYOUT_TOOL" tar "$scratch/opaque.tar" "$(cat "$scratch/spec")"
python3 "$LAYOUT_TOOL" stack "$image" "$tag" opaque "$scratch/opaque.tar" zstd \
    '{"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo from-cmd"], "User": "0"}'
oci "$image:opaque"
check "Entrypoint + Cmd: sh -c 'echo from-cmd'" test "$st" -eq 0 -a "$(out)" = from-cmd
oci "$image:opaque" 'ls /opq; test -e /kept || echo no-kept'
check "a zstd layer: its opaque /opq hides the lower /opq/old, .wh.kept deletes /kept; words after the image replace Cmd" \
    test "$st" -eq 0 -a "$(out | tr '\n' ' ')" = "fresh no-kept "

# --- podman's own zstd layers
if "${pod[@]}" push -q --compression-format zstd localhost/berth-oci "oci:$scratch/zstd:v1" >/dev/null 2>"$scratch/err"; then
    oci "$scratch/zstd:v1" sh -c 'cat /kept; test -e /gone || echo no-gone'
    check "podman push --compression-format zstd: a zstd image runs" \
        test "$st" -eq 0 -a "$(out | tr '\n' ' ')" = "kept no-gone " -a \
        "$(grep -c 'tar+zstd' "$scratch"/zstd/blobs/sha256/* | awk -F: '$2 > 0' | wc -l)" -ge 1
else
    tap_skip "podman push --compression-format zstd" "podman cannot push to oci: here"
fi

# --- bad input: one line, status 2, nothing in the cache
# bad NAME PATTERN REF [ARGS]: the run fails with status 2, one line matching PATTERN.
bad() {
    local name=$1 pattern=$2
    shift 2
    cache="$scratch/bad-cache"
    rm -rf "$cache"
    oci "$@"
    cache=
    if [[ $st -eq 2 && $(wc -l <"$scratch/err") -eq 1 ]] && grep -q -- "$pattern" "$scratch/err" &&
        [[ -z $(ls -A "$scratch/bad-cache" 2>/dev/null) ]]; then
        tap_ok "$name"
    else
        fail "$name (status $st)"
        find "$scratch/bad-cache" 2>/dev/null | head -5 | tap_diag "  cache: "
    fi
}
copy() {  # a copy of the image layout to break
    rm -rf "$scratch/broken"
    cp -a "$image" "$scratch/broken"
}
copy
rm "$scratch/broken/index.json"
bad "a layout without index.json" "has no index.json" "$scratch/broken"
bad "a directory that does not exist" "no such directory" "$scratch/nothing:tag"
bad "a tag the index does not hold: the tags it has are listed" "has no image tagged 'nope'.*opaque" "$image:nope"
bad "several images and no tag" "holds 2 images; name one as DIR:TAG" "$image"
copy
top=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]+"/index.json"))["manifests"][0]["digest"][7:]; print(json.load(open(sys.argv[1]+"/blobs/sha256/"+m))["layers"][-1]["digest"][7:])' "$scratch/broken")
# Same size, one byte changed.
printf 'X' | dd of="$scratch/broken/blobs/sha256/$top" bs=1 seek=20 conv=notrunc status=none
bad "a layer whose content does not match its digest" "digest mismatch" "$scratch/broken:$tag"
copy
sed -i 's/vnd.oci.image.layer.v1.tar+gzip/vnd.example.layer/' "$scratch/broken/blobs/sha256/"*
python3 - "$scratch/broken" <<'PYTHON'
import hashlib, json, os, sys
# The manifest was edited in place: store it under its new digest and point the index at it.
layout = sys.argv[1]
index = json.load(open(layout + "/index.json"))
for entry in index["manifests"]:
    data = open(layout + "/blobs/sha256/" + entry["digest"][7:], "rb").read()
    digest = hashlib.sha256(data).hexdigest()
    open(layout + "/blobs/sha256/" + digest, "wb").write(data)
    entry["digest"], entry["size"] = "sha256:" + digest, len(data)
json.dump(index, open(layout + "/index.json", "w"))
PYTHON
bad "a layer of a media type berth does not unpack" "is not a layer type berth unpacks" "$scratch/broken:$tag"

# Hostile layers: each alone in a layout of its own.
mkdir -p "$scratch/outside"
hostile() {  # hostile NAME PATTERN SPEC
    rm -rf "$scratch/hostile" "$scratch/outside"/*
    python3 "$LAYOUT_TOOL" tar "$scratch/hostile.tar" "$3"
    python3 "$LAYOUT_TOOL" single "$scratch/hostile" evil "$scratch/hostile.tar"
    bad "$1" "$2" "$scratch/hostile:evil"
    if [[ -n $(ls -A "$scratch/outside") ]]; then
        tap_not_ok "$1: nothing written outside the layer"
    fi
}
hostile "a layer entry climbing out with ../" 'climbs out with ".."' \
    '[{"name":"bin/../../outside/evil","data":"x"}]'
hostile "a layer entry with an absolute path" "is an absolute path" \
    "[{\"name\":\"$scratch/outside/evil\",\"data\":\"x\"}]"
hostile "a file written through an absolute symlink that leaves the layer" "leads through a symlink" \
    "[{\"name\":\"escape\",\"type\":\"symlink\",\"target\":\"$scratch/outside\"},{\"name\":\"escape/evil\",\"data\":\"x\"}]"
hostile "a whiteout through such a symlink" "leads through a symlink" \
    "[{\"name\":\"escape\",\"type\":\"symlink\",\"target\":\"$scratch/outside\"},{\"name\":\"escape/.wh.evil\"}]"
echo secret >"$scratch/secret"
hostile "a hard link to a file outside, through a symlink" "leads through a symlink" \
    "[{\"name\":\"escape\",\"type\":\"symlink\",\"target\":\"$scratch\"},{\"name\":\"stolen\",\"type\":\"hardlink\",\"target\":\"escape/secret\"}]"
hostile "a hard link climbing out with ../" 'climbs out with ".."' \
    '[{"name":"stolen","type":"hardlink","target":"../../secret"}]'

tap_done
