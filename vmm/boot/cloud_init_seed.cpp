#include "vmm/boot/cloud_init_seed.hpp"

#include <sys/random.h>

#include <cctype>
#include <ctime>

#include <fmt/format.h>

#include "vmm/common/archive_library.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/file.hpp"
#include "vmm/common/quote.hpp"

namespace berth::boot {

namespace {

// More than this is no key file or cloud-config but a wrong path: refused before it is
// read.
constexpr std::uint64_t max_seed_file = 1 << 20;

std::string read_text(const std::filesystem::path& path, std::string_view flag) {
    const auto bytes = read_input_file(path, flag, max_seed_file);
    return std::string(bytes.begin(), bytes.end());
}

// A YAML double-quoted scalar.
std::string yaml_quoted(std::string_view text) {
    std::string out = "\"";
    for (const char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
        } else {
            out += c;
        }
    }
    return out + "\"";
}

// The public keys in one --ssh-key file, a line each (authorized_keys format).
std::vector<std::string> public_keys(const std::filesystem::path& path) {
    const std::string text = read_text(path, "--ssh-key " + path.string());
    if (text.find("PRIVATE KEY-----") != std::string::npos) {
        throw bad_input(
            fmt::format("--ssh-key {} is a private key; give the public key (the "
                        ".pub file next to it)",
                        quote(path.string())));
    }
    std::vector<std::string> keys;
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string::npos) {
            end = text.size();
        }
        std::string line = text.substr(start, end - start);
        start = end + 1;
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) {
            line.pop_back();
        }
        if (line.empty() || line[0] == '#') {
            continue;
        }
        if (!line.starts_with("ssh-") && !line.starts_with("ecdsa-") && !line.starts_with("sk-")) {
            throw bad_input(
                fmt::format("--ssh-key {}: {} is no OpenSSH public key (ssh-ed25519 "
                            "AAAA..., ssh-rsa, ecdsa-...); give a .pub file",
                            quote(path.string()), quote(line.substr(0, 24))));
        }
        keys.push_back(line);
    }
    if (keys.empty()) {
        throw bad_input(
            fmt::format("--ssh-key {} holds no key; give a .pub file (ssh-keygen "
                        "writes one)",
                        quote(path.string())));
    }
    return keys;
}

bool dns_label(std::string_view name) {
    if (name.empty() || name.size() > 63 || name.front() == '-' || name.back() == '-') {
        return false;
    }
    for (const char c : name) {
        if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '-') {
            return false;
        }
    }
    return true;
}

}  // namespace

SeedFiles make_seed_files(const CloudInitOptions& options, const std::string& instance_id) {
    if (!options.hostname.empty() && !dns_label(options.hostname)) {
        throw bad_input(
            fmt::format("--hostname {}: give a host name of letters, digits and "
                        "dashes (at most 63, no dash at either end)",
                        quote(options.hostname)));
    }
    SeedFiles files;
    files.meta_data = fmt::format("instance-id: {}\n", instance_id);
    if (!options.hostname.empty()) {
        files.meta_data += fmt::format("local-hostname: {}\n", options.hostname);
    }
    if (options.user_data_file) {
        if (!options.ssh_key_files.empty() || options.password) {
            throw bad_input(
                "--user-data is a whole cloud-config, used as it is: put the keys "
                "(ssh_authorized_keys) and the password in it instead of --ssh-key "
                "and --password");
        }
        files.user_data =
            read_text(*options.user_data_file, "--user-data " + options.user_data_file->string());
        return files;
    }
    files.user_data = "#cloud-config\n";
    if (!options.hostname.empty()) {
        files.user_data += fmt::format("hostname: {}\n", options.hostname);
    }
    if (!options.ssh_key_files.empty()) {
        files.user_data += "ssh_authorized_keys:\n";
        for (const auto& file : options.ssh_key_files) {
            for (const auto& key : public_keys(file)) {
                files.user_data += "  - " + yaml_quoted(key) + "\n";
            }
        }
    }
    if (options.password) {
        // The distribution's default user (debian, ubuntu, ...); no expiry, so the
        // first login is not a forced password change; ssh accepts it too.
        files.user_data += "password: " + yaml_quoted(*options.password) + "\n";
        files.user_data += "chpasswd:\n  expire: false\nssh_pwauth: true\n";
    }
    return files;
}

std::string new_instance_id() {
    std::uint64_t random = 0;
    if (::getrandom(&random, sizeof random, 0) != sizeof random) {
        random = static_cast<std::uint64_t>(std::time(nullptr)) ^
                 reinterpret_cast<std::uintptr_t>(&random);
    }
    return fmt::format("berth-{:016x}", random);
}

void write_seed_volume(const std::filesystem::path& path, const SeedFiles& files) {
    const ArchiveApi& api = archive_api("a cloud-init seed");
    struct archive* writer = api.write_new();
    if (writer == nullptr) {
        throw Error("cannot write the cloud-init seed: libarchive is out of memory");
    }
    const std::unique_ptr<struct archive, decltype(api.free)> owner(writer, api.free);
    const auto check = [&](int result, std::string_view what) {
        if (result != ARCHIVE_OK) {
            const char* why = api.error_string(writer);
            throw Error(fmt::format("cannot write the cloud-init seed {}: {} ({})", path.string(),
                                    what, why != nullptr ? why : "libarchive gives no reason"));
        }
    };
    check(api.set_format_iso9660(writer), "ISO 9660 format");
    check(api.set_option(writer, "iso9660", "volume-id", "cidata"), "volume id");
    check(api.set_option(writer, "iso9660", "joliet", "1"), "Joliet names");
    check(api.open_filename(writer, path.c_str()), "open");
    const std::time_t now = std::time(nullptr);
    for (const auto& [name, text] :
         {std::pair<const char*, const std::string&>{"meta-data", files.meta_data},
          {"user-data", files.user_data}}) {
        struct archive_entry* entry = api.entry_new();
        if (entry == nullptr) {
            throw Error("cannot write the cloud-init seed: libarchive is out of memory");
        }
        const std::unique_ptr<struct archive_entry, decltype(api.entry_free)> entry_owner(
            entry, api.entry_free);
        api.entry_set_pathname(entry, name);
        api.entry_set_size(entry, static_cast<la_int64_t>(text.size()));
        api.entry_set_filetype(entry, AE_IFREG);
        api.entry_set_perm(entry, 0644);
        api.entry_set_mtime(entry, now, 0);
        check(api.write_header(writer, entry), name);
        if (api.write_data(writer, text.data(), text.size()) !=
            static_cast<la_ssize_t>(text.size())) {
            check(ARCHIVE_FATAL, name);
        }
    }
    check(api.close(writer), "close");
}

}  // namespace berth::boot
