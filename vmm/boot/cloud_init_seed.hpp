#pragma once
// cloud-init's NoCloud seed: `berth vm run --ssh-key FILE --password PW --hostname H
// --user-data FILE` become a small read-only ISO 9660 volume labelled "cidata" holding
// `meta-data` (a per-run instance-id, so cloud-init applies it again on every run, and
// local-hostname) and `user-data` (the file given, or a #cloud-config berth writes from
// the keys and the password). cloud-init finds it by its label (NoCloud data source).
//
// The volume is written with libarchive's ISO 9660 writer (Rock Ridge names, so the
// files keep their dashes), loaded with dlopen when a seed is asked for: the berth
// binary links only libc and libmnl (docs/benchmarks.md), and Debian's static
// libarchive would bring a dozen static compression and crypto libraries along.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace berth::boot {

struct CloudInitOptions {
    std::vector<std::filesystem::path> ssh_key_files;     // --ssh-key, public keys
    std::optional<std::string> password;                  // --password, the default user's
    std::string hostname;                                 // --hostname
    std::optional<std::filesystem::path> user_data_file;  // --user-data, used as it is
    bool wanted() const {
        return !ssh_key_files.empty() || password || !hostname.empty() || user_data_file;
    }
};

struct SeedFiles {
    std::string meta_data;
    std::string user_data;
};

// The two files for `options`, with `instance_id`. Reads the key and user-data files;
// an unreadable file, a private key given as --ssh-key, a hostname that is no DNS
// label, or --user-data together with --ssh-key/--password (a full cloud-config holds
// its own keys) is a bad-input Error naming the flag.
SeedFiles make_seed_files(const CloudInitOptions& options, const std::string& instance_id);

// "berth-" and 16 random hex digits.
std::string new_instance_id();

// Writes the ISO 9660 seed volume (label "cidata") holding `files` to `path`.
void write_seed_volume(const std::filesystem::path& path, const SeedFiles& files);

}  // namespace berth::boot
