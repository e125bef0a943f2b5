#pragma once
// The unpacked layers of OCI images (`berth ct run --oci`), one directory per layer,
// named by the layer's digest: DIR/sha256/<hex>. A layer is unpacked once, by the first
// run that needs it; later runs of any image that shares it find it there. The
// container's root is then an overlay of the layers (the lowest first) with a tmpfs on
// top (image_rootfs.hpp), so nothing a container writes reaches the cache.
//
// Unpacking: the blob's SHA-256 is checked first; then libarchive (dlopened) reads the
// tar (plain, gzip or zstd, as the media type says) into a fresh directory of the cache,
// which is renamed into place only when complete. A failure removes it: the cache holds
// complete, verified layers or nothing. Whiteouts become overlayfs's own: `.wh.NAME` a
// character device 0/0 named NAME, `.wh..wh..opq` the xattr trusted.overlay.opaque=y on
// its directory. An entry that is absolute, climbs with "..", or goes through a symlink
// (a path or a hard link's target) is refused: a layer writes only inside its directory.
// Root only (whiteout devices, trusted xattrs, file owners).

#include <string>
#include <vector>

#include "vmm/container/oci_image.hpp"

namespace berth::container {

// Where layers go unless the user says otherwise (--layer-cache): a cache, so it may be
// deleted at any time when no container uses it.
inline constexpr const char* default_layer_cache = "/var/cache/berth/layers";

class LayerCache {
public:
    explicit LayerCache(std::string directory) : directory_(std::move(directory)) {}

    // The directories holding the image's layers (the base first), unpacking those
    // that are not there yet. Every missing layer's blob is checked against its digest
    // before any is unpacked, so a damaged image adds nothing to the cache.
    std::vector<std::string> unpacked(const oci::Image& image) const;

private:
    std::string path_of(const oci::ImageLayer& layer) const;
    void unpack_into_cache(const oci::ImageLayer& layer, const std::string& blob_path) const;

    std::string directory_;
};

}  // namespace berth::container
