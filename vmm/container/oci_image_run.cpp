#include "vmm/container/oci_image_run.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <optional>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/parse_number.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/unique_fd.hpp"
#include "vmm/container/layer_cache.hpp"
#include "vmm/container/oci_image.hpp"

namespace berth::container {

namespace {

// /etc/passwd or /etc/group is a few KiB; more is not one, and is not read.
constexpr std::size_t max_account_file = 1 << 20;

bool is_whiteout(const struct stat& status) {
    return S_ISCHR(status.st_mode) && status.st_rdev == ::makedev(0, 0);
}

bool is_opaque(const std::string& directory) {
    char value = 0;
    return ::lgetxattr(directory.c_str(), "trusted.overlay.opaque", &value, 1) == 1 && value == 'y';
}

// The text of `file` ("etc/passwd") as the overlay of `layers` (the base first) will
// show it: the topmost layer that has it, unless a layer above hid it (a whiteout of it
// or of its directory, or an opaque directory). Empty when no layer has it as a regular
// file (a symlink is not followed: it would point into the container, not the cache).
std::string file_in_layers(const std::vector<std::string>& layers, const std::string& file) {
    const std::string directory = file.substr(0, file.rfind('/'));
    for (auto layer = layers.rbegin(); layer != layers.rend(); ++layer) {
        struct stat status {};
        const std::string path = *layer + "/" + file;
        if (::lstat(path.c_str(), &status) == 0) {
            if (!S_ISREG(status.st_mode) || status.st_size > static_cast<off_t>(max_account_file)) {
                return {};
            }
            const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
            std::string text(static_cast<std::size_t>(status.st_size), '\0');
            if (!fd || ::read(fd.get(), text.data(), text.size()) != status.st_size) {
                return {};
            }
            return text;
        }
        struct stat dir_status {};
        const std::string dir_path = *layer + "/" + directory;
        if (::lstat(dir_path.c_str(), &dir_status) == 0 &&
            (is_whiteout(dir_status) || (S_ISDIR(dir_status.st_mode) && is_opaque(dir_path)))) {
            return {};
        }
    }
    return {};
}

// The lines of an account file split at ':' (passwd: name, x, uid, gid, ...).
std::vector<std::vector<std::string_view>> records(std::string_view text) {
    std::vector<std::vector<std::string_view>> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        const std::string_view line = text.substr(start, end - start);
        start = end + 1;
        if (line.empty() || line.front() == '#') {
            continue;
        }
        std::vector<std::string_view> fields;
        std::size_t field_start = 0;
        for (;;) {
            const auto colon = line.find(':', field_start);
            fields.push_back(line.substr(field_start, colon - field_start));
            if (colon == std::string_view::npos) {
                break;
            }
            field_start = colon + 1;
        }
        lines.push_back(std::move(fields));
    }
    return lines;
}

template <typename Id>
std::optional<Id> number(std::string_view text) {
    Id value{};
    if (!parse_whole_number(text, value) || value == static_cast<Id>(-1)) {
        return std::nullopt;
    }
    return value;
}

}  // namespace

UserSpec resolve_image_user(std::string_view user, std::string_view passwd,
                            std::string_view group) {
    const auto colon = user.find(':');
    const std::string_view user_part = user.substr(0, colon);
    const std::string_view group_part =
        colon == std::string_view::npos ? std::string_view{} : user.substr(colon + 1);
    if (user_part.empty() || (colon != std::string_view::npos && group_part.empty())) {
        throw bad_input(fmt::format("User {} is not USER or USER:GROUP", quote(user)));
    }
    UserSpec spec;
    std::string name;  // for supplementary groups
    std::optional<gid_t> primary;
    const auto users = records(passwd);
    if (const auto uid = number<uid_t>(user_part)) {
        spec.uid = *uid;
        for (const auto& fields : users) {
            if (fields.size() >= 4 && number<uid_t>(fields[2]) == *uid) {
                name = fields[0];
                primary = number<gid_t>(fields[3]);
                break;
            }
        }
    } else {
        bool found = false;
        for (const auto& fields : users) {
            if (fields.size() >= 4 && fields[0] == user_part) {
                const auto uid = number<uid_t>(fields[2]);
                if (!uid) {
                    break;
                }
                spec.uid = *uid;
                primary = number<gid_t>(fields[3]);
                name = fields[0];
                found = true;
                break;
            }
        }
        if (!found) {
            throw bad_input(fmt::format(
                "User {}: no user {} in the image's /etc/passwd; give a number, or run as "
                "another user",
                quote(user), quote(user_part)));
        }
    }
    const auto groups = records(group);
    if (group_part.empty()) {
        spec.gid = primary.value_or(0);
    } else if (const auto gid = number<gid_t>(group_part)) {
        spec.gid = *gid;
    } else {
        bool found = false;
        for (const auto& fields : groups) {
            if (fields.size() >= 3 && fields[0] == group_part) {
                if (const auto gid = number<gid_t>(fields[2])) {
                    spec.gid = *gid;
                    found = true;
                }
                break;
            }
        }
        if (!found) {
            throw bad_input(
                fmt::format("User {}: no group {} in the image's /etc/group; give a number",
                            quote(user), quote(group_part)));
        }
    }
    // The groups that list the user as a member, as docker and podman add them.
    if (!name.empty()) {
        for (const auto& fields : groups) {
            if (fields.size() < 4) {
                continue;
            }
            const auto gid = number<gid_t>(fields[2]);
            std::string_view members = fields[3];
            while (gid && !members.empty()) {
                const auto comma = members.find(',');
                if (members.substr(0, comma) == name) {
                    if (*gid != spec.gid) {
                        spec.additional_gids.push_back(*gid);
                    }
                    break;
                }
                members = comma == std::string_view::npos ? std::string_view{}
                                                          : members.substr(comma + 1);
            }
        }
    }
    return spec;
}

void apply_oci_image(const ImageRequest& request, RunOptions& options) {
    if (::geteuid() != 0) {
        throw bad_input(
            "an OCI image layout needs root (its layers are unpacked with their owners and "
            "whiteouts and laid under an overlay); run as root");
    }
    const oci::Image image = oci::open_image_layout(request.reference);
    try {
        std::vector<std::string> command = image.config.entrypoint;
        const auto& args = request.command.empty() ? image.config.cmd : request.command;
        command.insert(command.end(), args.begin(), args.end());
        if (command.empty()) {
            throw bad_input(
                "the image's config has no Entrypoint and no Cmd: give the command after the "
                "image");
        }
        if (image.layers.empty()) {
            throw bad_input("the image's manifest lists no layers: there is no root filesystem");
        }
        std::vector<std::string> layers = LayerCache(request.layer_cache).unpacked(image);
        if (!request.user_given && !image.config.user.empty()) {
            options.user =
                resolve_image_user(image.config.user, file_in_layers(layers, "etc/passwd"),
                                   file_in_layers(layers, "etc/group"));
        }
        if (!request.workdir_given && !image.config.working_dir.empty()) {
            options.workdir = image.config.working_dir;
            options.create_workdir = true;
        }
        std::vector<std::string> env = image.config.env;
        env.insert(env.end(), options.env.begin(), options.env.end());
        options.env = std::move(env);
        options.command = std::move(command);
        options.image_layers = std::move(layers);
        options.oci_image = request.reference;
    } catch (const Error& e) {
        throw e.with_context(image.shown_as);
    }
}

}  // namespace berth::container
