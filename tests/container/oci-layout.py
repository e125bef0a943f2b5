#!/usr/bin/env python3
"""Makes OCI image layouts for tests/container/oci-image-tests.sh, by hand where podman
cannot (an opaque directory, a zstd layer on Debian 12's podman, hostile layers).

  oci-layout.py stack LAYOUT FROM_TAG NEW_TAG LAYER_TAR gzip|zstd|none CONFIG_JSON
      adds an image NEW_TAG to LAYOUT: FROM_TAG's layers plus LAYER_TAR (compressed as
      said, digests computed), its config's "config" object updated with CONFIG_JSON.
  oci-layout.py single LAYOUT TAG LAYER_TAR
      a new layout holding one image of one uncompressed layer (the hostile cases).
  oci-layout.py tar OUT SPEC_JSON
      writes a tar of the entries SPEC_JSON lists: [{"name":..., "type": "file"|"dir"|
      "symlink"|"hardlink", "target":..., "data":...}], names taken as they are.
"""
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile


def put_blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(layout, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest


def blob(layout, digest):
    with open(os.path.join(layout, "blobs", "sha256", digest.split(":")[1]), "rb") as f:
        return f.read()


def compress(data, how):
    if how == "gzip":
        return gzip.compress(data), "application/vnd.oci.image.layer.v1.tar+gzip"
    if how == "zstd":
        out = subprocess.run(["zstd", "-q", "-c"], input=data, stdout=subprocess.PIPE, check=True)
        return out.stdout, "application/vnd.oci.image.layer.v1.tar+zstd"
    return data, "application/vnd.oci.image.layer.v1.tar"


def add_image(layout, tag, layers, config):
    config_bytes = json.dumps(config).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": put_blob(layout, config_bytes), "size": len(config_bytes)},
        "layers": layers,
    }
    manifest_bytes = json.dumps(manifest).encode()
    index_path = os.path.join(layout, "index.json")
    index = {"schemaVersion": 2, "manifests": []}
    if os.path.exists(index_path):
        with open(index_path) as f:
            index = json.load(f)
    index["manifests"].append({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": put_blob(layout, manifest_bytes), "size": len(manifest_bytes),
        "annotations": {"org.opencontainers.image.ref.name": tag}})
    with open(index_path, "w") as f:
        json.dump(index, f)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion": "1.0.0"}')


def stack(layout, from_tag, new_tag, tar_path, how, config_json):
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    entry = [m for m in index["manifests"]
             if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == from_tag][0]
    manifest = json.loads(blob(layout, entry["digest"]))
    config = json.loads(blob(layout, manifest["config"]["digest"]))
    with open(tar_path, "rb") as f:
        tar = f.read()
    data, media_type = compress(tar, how)
    layers = manifest["layers"] + [
        {"mediaType": media_type, "digest": put_blob(layout, data), "size": len(data)}]
    config["rootfs"]["diff_ids"].append("sha256:" + hashlib.sha256(tar).hexdigest())
    config.setdefault("config", {}).update(json.loads(config_json))
    add_image(layout, new_tag, layers, config)


def single(layout, tag, tar_path):
    with open(tar_path, "rb") as f:
        tar = f.read()
    config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/true"]},
              "rootfs": {"type": "layers",
                         "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]}}
    add_image(layout, tag, [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                             "digest": put_blob(layout, tar), "size": len(tar)}], config)


def make_tar(out, spec):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for item in json.loads(spec):
            info = tarfile.TarInfo(item["name"])
            kind = item.get("type", "file")
            data = item.get("data", "").encode()
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, item["target"]
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, item["target"]
            else:
                info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data) if kind == "file" else None)
    with open(out, "wb") as f:
        f.write(buffer.getvalue())


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "stack":
        stack(*sys.argv[2:8])
    elif command == "single":
        single(*sys.argv[2:5])
    elif command == "tar":
        make_tar(*sys.argv[2:4])
    else:
        sys.exit(__doc__)
