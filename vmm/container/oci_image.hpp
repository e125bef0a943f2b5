#pragma once
// An OCI image layout (image-spec 1.x: what `skopeo copy ... oci:DIR:TAG` and
// `podman save --format oci-dir` write) read for `berth ct run --oci DIR[:TAG]`:
// index.json picks the manifest (by its org.opencontainers.image.ref.name annotation
// when a TAG is given, and this host's platform in a multi-platform index), the
// manifest lists the layers, the config says how to run the image. Every blob read is
// checked against its descriptor's digest and size. Anything malformed or not for
// this host is bad input naming the file and the fix.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace berth::container::oci {

enum class LayerCompression { none, gzip, zstd };

// A content descriptor: "sha256:<64 lowercase hex digits>" (the only algorithm berth
// reads; the image-spec's registered one), the blob's size in bytes.
struct Descriptor {
    std::string media_type;
    std::string digest;
    std::uint64_t size = 0;
};

struct ImageLayer {
    Descriptor blob;
    LayerCompression compression = LayerCompression::none;
};

// The config's "config" object: how the image runs unless told otherwise.
struct ImageRunConfig {
    std::vector<std::string> entrypoint;
    std::vector<std::string> cmd;
    std::vector<std::string> env;  // KEY=VALUE
    std::string working_dir;       // empty: /
    std::string user;              // empty: root; "uid", "name", "uid:gid", "name:group"
};

struct Image {
    std::string layout;              // the directory
    std::string shown_as;            // "image layout 'DIR'" or "... 'DIR:TAG'"
    std::vector<ImageLayer> layers;  // the base first
    ImageRunConfig config;
};

// Splits "DIR[:TAG]": the whole text when it is a directory, else at the first ':' after
// which the rest is a TAG and before which a directory stands.
std::pair<std::string, std::string> split_reference(std::string_view reference);

// Reads the layout's index, manifest and config for `reference` (DIR[:TAG]).
Image open_image_layout(std::string_view reference);

// The blob's file in the layout (the digest is checked to be sha256 and hex first).
std::string blob_path(const std::string& layout, const Descriptor& blob);

// Checks that the blob's file has the descriptor's size and SHA-256 digest; bad input
// naming `what` ("layer 2") otherwise.
void verify_blob(const std::string& path, const Descriptor& blob, std::string_view what);

}  // namespace berth::container::oci
