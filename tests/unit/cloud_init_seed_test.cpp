// The cloud-init NoCloud seed (vmm/boot/cloud_init_seed.hpp): its two files from the
// flags, bad flags refused by name, and the ISO 9660 volume read back by other tools
// (blkid for the label, bsdtar for the files, as cloud-init's mount would see them).

#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "vmm/boot/cloud_init_seed.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/temp_dir.hpp"

using namespace berth;
namespace fs = std::filesystem;

namespace {

constexpr const char* ed25519 =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0b3Yx8mNq4LwRk7yJ1xq2T4xQhQy2l7p8cQ9m3TqZl ann@host";

fs::path write_text(const TempDir& dir, const std::string& name, const std::string& text) {
    const fs::path path = dir.path() / name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
}

std::string output_of(const std::string& command) {
    std::string out;
    FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    char buffer[4096];
    while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) {
        out += buffer;
    }
    ::pclose(pipe);
    return out;
}

void check_refused(const boot::CloudInitOptions& options, const std::vector<std::string>& parts) {
    try {
        boot::make_seed_files(options, "berth-0");
        FAIL("accepted");
    } catch (const Error& e) {
        CHECK(e.status() == ExitStatus::bad_input);
        const std::string message = e.what();
        CHECK(message.find('\n') == std::string::npos);
        for (const auto& part : parts) {
            CHECK_THAT(message, Catch::Contains(part));
        }
    }
}

}  // namespace

TEST_CASE("seed files: keys, password and host name become meta-data and a cloud-config",
          "[cloud-init]") {
    const TempDir dir("berth-seed-test.");
    boot::CloudInitOptions options;
    options.ssh_key_files = {write_text(dir, "a.pub", std::string(ed25519) + "\n"),
                             write_text(dir, "b.pub",
                                        "# two keys\nssh-rsa AAAAB3Nza \"quoted\" b@host\r\n\n"
                                        "ecdsa-sha2-nistp256 AAAAE2 c@host\n")};
    options.password = "pa\"ss\\word";
    options.hostname = "guest-1";
    const auto files = boot::make_seed_files(options, "berth-0123456789abcdef");
    CHECK(files.meta_data == "instance-id: berth-0123456789abcdef\nlocal-hostname: guest-1\n");
    CHECK(files.user_data == std::string("#cloud-config\nhostname: guest-1\n"
                                         "ssh_authorized_keys:\n  - \"") +
                                 ed25519 +
                                 "\"\n  - \"ssh-rsa AAAAB3Nza \\\"quoted\\\" b@host\"\n"
                                 "  - \"ecdsa-sha2-nistp256 AAAAE2 c@host\"\n"
                                 "password: \"pa\\\"ss\\\\word\"\n"
                                 "chpasswd:\n  expire: false\nssh_pwauth: true\n");
    // A new id per run, so that cloud-init applies the seed on every boot.
    CHECK(boot::new_instance_id() != boot::new_instance_id());
    CHECK(boot::new_instance_id().size() == 6 + 16);
}

TEST_CASE("seed files: --user-data is used as it is", "[cloud-init]") {
    const TempDir dir("berth-seed-test.");
    boot::CloudInitOptions options;
    options.user_data_file = write_text(dir, "user-data", "#cloud-config\nruncmd: [true]\n");
    options.hostname = "h";
    const auto files = boot::make_seed_files(options, "berth-1");
    CHECK(files.user_data == "#cloud-config\nruncmd: [true]\n");
    CHECK(files.meta_data == "instance-id: berth-1\nlocal-hostname: h\n");
}

TEST_CASE("seed files: bad flags are refused by name", "[cloud-init]") {
    const TempDir dir("berth-seed-test.");
    boot::CloudInitOptions options;
    SECTION("a private key") {
        options.ssh_key_files = {
            write_text(dir, "id_ed25519",
                       "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH "
                       "PRIVATE KEY-----\n")};
        check_refused(options, {"id_ed25519", "is a private key", ".pub"});
    }
    SECTION("not a key") {
        options.ssh_key_files = {write_text(dir, "notes.txt", "hello world\n")};
        check_refused(options, {"--ssh-key", "notes.txt", "is no OpenSSH public key"});
    }
    SECTION("an empty key file") {
        options.ssh_key_files = {write_text(dir, "empty.pub", "\n# nothing\n")};
        check_refused(options, {"empty.pub", "holds no key"});
    }
    SECTION("a missing key file") {
        options.ssh_key_files = {dir.path() / "missing.pub"};
        check_refused(options, {"missing.pub", "No such file"});
    }
    SECTION("a host name that is no DNS label") {
        options.hostname = "under_score";
        check_refused(options, {"--hostname 'under_score'", "letters, digits and dashes"});
    }
    SECTION("--user-data with --ssh-key") {
        options.user_data_file = write_text(dir, "user-data", "#cloud-config\n");
        options.ssh_key_files = {write_text(dir, "a.pub", ed25519)};
        check_refused(options, {"--user-data is a whole cloud-config", "ssh_authorized_keys"});
    }
}

TEST_CASE("the seed volume: ISO 9660 labelled cidata with meta-data and user-data",
          "[cloud-init]") {
    const TempDir dir("berth-seed-test.");
    const fs::path seed = dir.path() / "seed.iso";
    boot::write_seed_volume(
        seed, {"instance-id: berth-42\nlocal-hostname: box\n", "#cloud-config\npassword: \"x\"\n"});
    const std::string probe = "blkid -p -o value -s ";
    CHECK(output_of(probe + "TYPE '" + seed.string() + "'") == "iso9660\n");
    CHECK(output_of(probe + "LABEL '" + seed.string() + "'") == "cidata\n");
    CHECK(output_of("bsdtar -xOf '" + seed.string() + "' meta-data") ==
          "instance-id: berth-42\nlocal-hostname: box\n");
    CHECK(output_of("bsdtar -xOf '" + seed.string() + "' user-data") ==
          "#cloud-config\npassword: \"x\"\n");
    // The root directory, then the two files and nothing else.
    CHECK(output_of("bsdtar -tf '" + seed.string() + "' | sort") == ".\nmeta-data\nuser-data\n");
}
