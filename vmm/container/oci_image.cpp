#include "vmm/container/oci_image.hpp"

#include <fcntl.h>
#include <nettle/sha2.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <optional>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/unique_fd.hpp"
#include "vmm/container/json_node.hpp"

namespace berth::container::oci {

namespace {

using json_node::Node;

// An index, manifest or config is a few KiB; more is not one.
constexpr std::uint64_t max_document = 4 << 20;
// Indexes may point at indexes (multi-platform images); a loop must not recurse forever.
constexpr int max_index_depth = 4;

constexpr std::string_view ref_name = "org.opencontainers.image.ref.name";
constexpr std::string_view oci_index = "application/vnd.oci.image.index.v1+json";
constexpr std::string_view docker_list =
    "application/vnd.docker.distribution.manifest.list.v2+json";
constexpr std::string_view oci_manifest = "application/vnd.oci.image.manifest.v1+json";
constexpr std::string_view docker_manifest = "application/vnd.docker.distribution.manifest.v2+json";
constexpr std::string_view oci_config = "application/vnd.oci.image.config.v1+json";
constexpr std::string_view docker_config = "application/vnd.docker.container.image.v1+json";

struct LayerType {
    std::string_view media_type;
    LayerCompression compression;
};
constexpr std::array layer_types{
    LayerType{"application/vnd.oci.image.layer.v1.tar", LayerCompression::none},
    LayerType{"application/vnd.oci.image.layer.v1.tar+gzip", LayerCompression::gzip},
    LayerType{"application/vnd.oci.image.layer.v1.tar+zstd", LayerCompression::zstd},
    LayerType{"application/vnd.oci.image.layer.nondistributable.v1.tar", LayerCompression::none},
    LayerType{"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
              LayerCompression::gzip},
    LayerType{"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
              LayerCompression::zstd},
    LayerType{"application/vnd.docker.image.rootfs.diff.tar.gzip", LayerCompression::gzip},
};

bool is_directory(const std::string& path) {
    struct stat status {};
    return ::stat(path.c_str(), &status) == 0 && S_ISDIR(status.st_mode);
}

// The GOARCH name of this host's architecture, as image platforms and configs say it.
std::string host_architecture() {
    utsname name{};
    ::uname(&name);
    const std::string machine = name.machine;
    if (machine == "x86_64") {
        return "amd64";
    }
    if (machine == "aarch64") {
        return "arm64";
    }
    return machine;
}

UniqueFd open_blob_file(const std::string& path, std::string_view what) {
    // O_NONBLOCK: a FIFO where a blob should be is an error, not a hang.
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (!fd) {
        throw bad_input(errno_message(fmt::format("{}: cannot open {}", what, quote(path)), errno));
    }
    struct stat status {};
    if (::fstat(fd.get(), &status) != 0 || !S_ISREG(status.st_mode)) {
        throw bad_input(fmt::format("{}: {} is not a regular file", what, quote(path)));
    }
    return fd;
}

std::string hex(const std::uint8_t* bytes, std::size_t size) {
    std::string text;
    for (std::size_t i = 0; i < size; ++i) {
        text += fmt::format("{:02x}", bytes[i]);
    }
    return text;
}

// Reads all of `fd` (at most `limit` bytes, else bad input naming `what`), hashing it.
std::string read_hashed(int fd, std::uint64_t limit, std::string_view what, std::string& digest) {
    sha256_ctx context;
    sha256_init(&context);
    std::string bytes;
    std::array<std::uint8_t, 1 << 16> buffer;
    std::uint64_t total = 0;
    for (;;) {
        const ssize_t got = ::read(fd, buffer.data(), buffer.size());
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw_errno(fmt::format("{}: cannot read", what), errno);
        }
        if (got == 0) {
            break;
        }
        total += static_cast<std::uint64_t>(got);
        if (limit != UINT64_MAX) {
            if (total > limit) {
                throw bad_input(
                    fmt::format("{} is larger than {} bytes: not an image document", what, limit));
            }
            bytes.append(reinterpret_cast<const char*>(buffer.data()),
                         static_cast<std::size_t>(got));
        }
        sha256_update(&context, static_cast<std::size_t>(got), buffer.data());
    }
    std::array<std::uint8_t, SHA256_DIGEST_SIZE> sum;
    sha256_digest(&context, sum.size(), sum.data());
    digest = "sha256:" + hex(sum.data(), sum.size());
    return bytes;
}

void check_digest_and_size(const Descriptor& blob, const std::string& actual_digest,
                           std::uint64_t actual_size, std::string_view what) {
    if (actual_size != blob.size) {
        throw bad_input(fmt::format(
            "{} ({}) is {} bytes, its descriptor says {}: the layout is damaged; copy the image "
            "again",
            what, blob.digest, actual_size, blob.size));
    }
    if (actual_digest != blob.digest) {
        throw bad_input(fmt::format(
            "{}: digest mismatch, the descriptor says {} but the blob's content is {}: the layout "
            "is damaged or was changed; copy the image again",
            what, blob.digest, actual_digest));
    }
}

Descriptor parse_descriptor(const Node& node) {
    node.expect_object();
    Descriptor descriptor;
    descriptor.media_type = node.required("mediaType").string();
    const Node digest = node.required("digest");
    descriptor.digest = digest.string();
    const std::string_view text = descriptor.digest;
    if (!text.starts_with("sha256:")) {
        digest.fail(fmt::format("{} is not a sha256 digest (the only algorithm berth reads)",
                                quote(descriptor.digest)));
    }
    const std::string_view hex_digits = text.substr(7);
    if (hex_digits.size() != 64 ||
        hex_digits.find_first_not_of("0123456789abcdef") != std::string_view::npos) {
        digest.fail(
            fmt::format("{} is not sha256: and 64 lowercase hex digits", quote(descriptor.digest)));
    }
    descriptor.size = node.required("size").uint64();
    return descriptor;
}

// A document of the layout: index.json itself, or a blob checked against its descriptor.
struct Document {
    nlohmann::json json;
    std::string name;  // what errors call it: "index.json", "manifest sha256:..."
};

Document read_document(const std::string& path, std::string name) {
    const UniqueFd fd = open_blob_file(path, name);
    std::string digest;
    const std::string text = read_hashed(fd.get(), max_document, name, digest);
    try {
        return Document{json_node::parse_json(text), std::move(name)};
    } catch (const Error& e) {
        throw e.with_context(name);
    }
}

Document read_blob_document(const std::string& layout, const Descriptor& blob,
                            std::string_view what) {
    const std::string name = fmt::format("{} {}", what, blob.digest);
    const UniqueFd fd = open_blob_file(blob_path(layout, blob), name);
    std::string digest;
    const std::string text = read_hashed(fd.get(), max_document, name, digest);
    check_digest_and_size(blob, digest, text.size(), name);
    try {
        return Document{json_node::parse_json(text), name};
    } catch (const Error& e) {
        throw e.with_context(name);
    }
}

// Parsing errors of a document name it: "manifest sha256:...: layers[0].digest: ...".
template <typename F>
auto in_document(const Document& document, F&& parse) {
    try {
        return parse(Node(document.json, ""));
    } catch (const Error& e) {
        throw e.with_context(document.name);
    }
}

bool is_index(std::string_view media_type) {
    return media_type == oci_index || media_type == docker_list;
}
bool is_manifest(std::string_view media_type) {
    return media_type == oci_manifest || media_type == docker_manifest;
}

// The platform a descriptor in an index names, when it names one, suits this host.
bool suits_host(const Node& descriptor) {
    const auto platform = descriptor.member("platform");
    if (!platform) {
        return true;
    }
    const auto os = platform->member("os");
    const auto architecture = platform->member("architecture");
    return (!os || os->string() == "linux") &&
           (!architecture || architecture->string() == host_architecture());
}

struct Candidate {
    Descriptor descriptor;
    std::string tag;
};

// The manifest `tag` names (any, when empty) in the index `node`, following nested indexes.
std::vector<Candidate> manifests_in(const std::string& layout, const Node& index,
                                    std::string_view tag, int depth) {
    if (depth > max_index_depth) {
        index.fail(fmt::format("indexes nest deeper than {}: not an image", max_index_depth));
    }
    index.expect_object();
    const Node list = index.required("manifests");
    std::vector<Candidate> found;
    for (std::size_t i = 0; i < list.array_size(); ++i) {
        const Node entry = list.element(i);
        Descriptor descriptor = parse_descriptor(entry);
        std::string name;
        if (const auto annotations = entry.member("annotations")) {
            if (const auto value = annotations->expect_object().member(ref_name)) {
                name = value->string();
            }
        }
        // A tag names an entry of the top index; what it points to need not be tagged.
        if (depth == 0 && !tag.empty() && name != tag) {
            continue;
        }
        if (!suits_host(entry)) {
            continue;
        }
        if (is_manifest(descriptor.media_type)) {
            found.push_back({std::move(descriptor), name});
        } else if (is_index(descriptor.media_type)) {
            const Document nested = read_blob_document(layout, descriptor, "index");
            auto inner = in_document(nested, [&](const Node& root) {
                return manifests_in(layout, root, {}, depth + 1);
            });
            for (auto& candidate : inner) {
                candidate.tag = name;
                found.push_back(std::move(candidate));
            }
        } else {
            entry.required("mediaType")
                .fail(fmt::format("{} is neither an image manifest nor an index that berth reads "
                                  "({} or {})",
                                  quote(descriptor.media_type), oci_manifest, oci_index));
        }
    }
    return found;
}

std::vector<std::string> tags_in(const Node& index) {
    std::vector<std::string> tags;
    const Node list = index.required("manifests");
    for (std::size_t i = 0; i < list.array_size(); ++i) {
        if (const auto annotations = list.element(i).member("annotations")) {
            if (const auto value = annotations->member(ref_name)) {
                tags.push_back(quote(value->string()));
            }
        }
    }
    return tags;
}

std::vector<std::string> optional_strings(const Node& config, std::string_view key) {
    const auto member = config.member(key);
    return member ? member->strings() : std::vector<std::string>{};
}

ImageRunConfig parse_run_config(const Node& root) {
    root.expect_object();
    if (const auto os = root.member("os"); os && os->string() != "linux") {
        os->fail(fmt::format("the image is for {}, not linux", quote(os->string())));
    }
    if (const auto architecture = root.member("architecture");
        architecture && architecture->string() != host_architecture()) {
        architecture->fail(fmt::format("the image is for {}, this host runs {}",
                                       quote(architecture->string()), host_architecture()));
    }
    ImageRunConfig config;
    const auto node = root.member("config");
    if (!node) {
        return config;
    }
    node->expect_object();
    config.entrypoint = optional_strings(*node, "Entrypoint");
    config.cmd = optional_strings(*node, "Cmd");
    config.env = optional_strings(*node, "Env");
    for (std::size_t i = 0; i < config.env.size(); ++i) {
        const auto& entry = config.env[i];
        if (entry.find('=') == std::string::npos || entry.front() == '=') {
            node->required("Env").element(i).fail(fmt::format("{} is not KEY=VALUE", quote(entry)));
        }
    }
    if (const auto dir = node->member("WorkingDir")) {
        config.working_dir = dir->string();
        if (!config.working_dir.empty() && config.working_dir.front() != '/') {
            dir->fail(fmt::format("{} is not an absolute path", quote(config.working_dir)));
        }
    }
    if (const auto user = node->member("User")) {
        config.user = user->string();
    }
    return config;
}

}  // namespace

std::pair<std::string, std::string> split_reference(std::string_view reference) {
    const std::string whole(reference);
    if (is_directory(whole)) {
        return {whole, {}};
    }
    for (auto colon = reference.find(':'); colon != std::string_view::npos;
         colon = reference.find(':', colon + 1)) {
        std::string dir(reference.substr(0, colon));
        if (!dir.empty() && is_directory(dir)) {
            return {std::move(dir), std::string(reference.substr(colon + 1))};
        }
    }
    throw bad_input(
        fmt::format("image layout {}: no such directory; an OCI image layout is named DIR or "
                    "DIR:TAG (skopeo copy IMAGE oci:DIR:TAG or podman save --format oci-dir -o "
                    "DIR IMAGE writes one)",
                    quote(whole)));
}

std::string blob_path(const std::string& layout, const Descriptor& blob) {
    // parse_descriptor allows only "sha256:" and 64 hex digits: no path can escape.
    return fmt::format("{}/blobs/sha256/{}", layout, blob.digest.substr(7));
}

void verify_blob(const std::string& path, const Descriptor& blob, std::string_view what) {
    const UniqueFd fd = open_blob_file(path, what);
    struct stat status {};
    ::fstat(fd.get(), &status);
    std::string digest;
    // The size first: a blob of the wrong length is not hashed at all.
    if (static_cast<std::uint64_t>(status.st_size) != blob.size) {
        check_digest_and_size(blob, {}, static_cast<std::uint64_t>(status.st_size), what);
    }
    read_hashed(fd.get(), UINT64_MAX, what, digest);
    check_digest_and_size(blob, digest, blob.size, what);
}

Image open_image_layout(std::string_view reference) {
    auto [layout, tag] = split_reference(reference);
    Image image;
    image.layout = layout;
    image.shown_as = fmt::format("image layout {}", quote(std::string(reference)));
    try {
        if (!is_directory(layout + "/blobs")) {
            throw bad_input(
                "has no blobs/ directory: not an OCI image layout (skopeo copy IMAGE oci:DIR:TAG "
                "or podman save --format oci-dir writes one)");
        }
        const std::string index_path = layout + "/index.json";
        if (::access(index_path.c_str(), F_OK) != 0) {
            throw bad_input(
                "has no index.json: not an OCI image layout (skopeo copy IMAGE oci:DIR:TAG or "
                "podman save --format oci-dir writes one)");
        }
        const Document index = read_document(index_path, "index.json");
        const auto candidates =
            in_document(index, [&layout = layout, &tag = tag](const Node& root) {
                return manifests_in(layout, root, tag, 0);
            });
        if (candidates.empty() && !tag.empty()) {
            const auto tags = in_document(index, [](const Node& root) { return tags_in(root); });
            throw bad_input(
                fmt::format("has no image tagged {}; its tags: {}", quote(tag),
                            tags.empty() ? "none" : fmt::format("{}", fmt::join(tags, ", "))));
        }
        if (candidates.empty()) {
            throw bad_input(
                fmt::format("index.json lists no image for linux/{}", host_architecture()));
        }
        if (candidates.size() > 1) {
            std::vector<std::string> tags;
            for (const auto& candidate : candidates) {
                tags.push_back(candidate.tag.empty() ? candidate.descriptor.digest
                                                     : quote(candidate.tag));
            }
            throw bad_input(fmt::format("holds {} images; name one as DIR:TAG (tags: {})",
                                        candidates.size(), fmt::join(tags, ", ")));
        }
        const Document manifest =
            read_blob_document(layout, candidates.front().descriptor, "manifest");
        const Descriptor config_blob = in_document(manifest, [&](const Node& root) {
            root.expect_object();
            if (const auto type = root.member("mediaType"); type && !is_manifest(type->string())) {
                type->fail(fmt::format("{} is not an image manifest", quote(type->string())));
            }
            const Node layers = root.required("layers");
            for (std::size_t i = 0; i < layers.array_size(); ++i) {
                ImageLayer layer{parse_descriptor(layers.element(i)), LayerCompression::none};
                bool known = false;
                for (const auto& type : layer_types) {
                    if (type.media_type == layer.blob.media_type) {
                        layer.compression = type.compression;
                        known = true;
                    }
                }
                if (!known) {
                    layers.element(i)
                        .required("mediaType")
                        .fail(fmt::format(
                            "{} is not a layer type berth unpacks (a tar, plain, +gzip or +zstd)",
                            quote(layer.blob.media_type)));
                }
                image.layers.push_back(std::move(layer));
            }
            const Node config = root.required("config");
            Descriptor descriptor = parse_descriptor(config);
            if (descriptor.media_type != oci_config && descriptor.media_type != docker_config) {
                config.required("mediaType")
                    .fail(fmt::format("{} is not an image config ({})",
                                      quote(descriptor.media_type), oci_config));
            }
            return descriptor;
        });
        const Document config = read_blob_document(layout, config_blob, "config");
        image.config = in_document(config, parse_run_config);
    } catch (const Error& e) {
        throw e.with_context(image.shown_as);
    }
    return image;
}

}  // namespace berth::container::oci
