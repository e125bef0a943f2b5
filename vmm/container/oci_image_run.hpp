#pragma once
// `berth ct run --oci DIR[:TAG]`: an OCI image layout as the container's root, run the
// way its config says unless the user says otherwise. The same run options as every
// `ct run` come out of it (one code path): the layers, unpacked into the layer cache,
// become the rootfs (an overlay, image_rootfs.hpp), and the image's config fills in
//   - the command: Entrypoint followed by the words after the image, or by Cmd when
//     there are none (as docker and podman run it);
//   - the environment: Env, then the user's --env (which win);
//   - the working directory: WorkingDir unless --workdir (made when missing);
//   - the user: User unless --user, names looked up in the image's /etc/passwd and
//     /etc/group (the groups it lists the user in become supplementary groups).

#include <string>
#include <string_view>
#include <vector>

#include "vmm/container/run_options.hpp"

namespace berth::container {

struct ImageRequest {
    std::string reference;             // DIR[:TAG]
    std::string layer_cache;           // layer_cache.hpp
    std::vector<std::string> command;  // the words after the image: they replace Cmd
    bool workdir_given = false;
    bool user_given = false;
};

// Reads the image, unpacks what is missing from the cache and fills `options` (whose
// env, workdir and user already hold the user's flags). Root only (bad input otherwise).
void apply_oci_image(const ImageRequest& request, RunOptions& options);

// The user an image's config names ("1000", "app", "app:staff", "1000:50"), looked up
// in `passwd` and `group` (the image's files, empty when it has none). Bad input when a
// name is not there.
UserSpec resolve_image_user(std::string_view user, std::string_view passwd, std::string_view group);

}  // namespace berth::container
