#include "vmm/container/seccomp_cache.hpp"

#include <nettle/sha2.h>
#include <seccomp.h>
#include <sys/stat.h>

#include <unistd.h>

#include <array>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "version_config.h"
#include "vmm/common/error.hpp"
#include "vmm/container/oci_state.hpp"
#include "vmm/container/seccomp_config.hpp"

namespace berth::container::oci {

namespace {

// Every field of the profile, and what compiles it, as one unambiguous text.
std::string cache_key(const Seccomp& seccomp) {
    nlohmann::json rules = nlohmann::json::array();
    for (const auto& rule : seccomp.syscalls) {
        nlohmann::json args = nlohmann::json::array();
        for (const auto& arg : rule.args) {
            args.push_back({arg.index, arg.value, arg.value_two, arg.op});
        }
        rules.push_back({rule.names, rule.action,
                         rule.errno_ret ? nlohmann::json(*rule.errno_ret) : nlohmann::json(),
                         args});
    }
    const scmp_version* library = seccomp_version();
    const nlohmann::json key = {
        BERTH_VERSION,
        fmt::format("libseccomp {}.{}.{}", library->major, library->minor, library->micro),
        seccomp.default_action,
        seccomp.default_errno_ret ? nlohmann::json(*seccomp.default_errno_ret) : nlohmann::json(),
        seccomp.architectures,
        seccomp.flags,
        seccomp.listener_path,
        rules};
    const std::string text = key.dump();
    sha256_ctx context;
    sha256_init(&context);
    sha256_update(&context, text.size(), reinterpret_cast<const std::uint8_t*>(text.data()));
    std::array<std::uint8_t, SHA256_DIGEST_SIZE> sum;
    sha256_digest(&context, sum.size(), sum.data());
    std::string hex;
    for (const std::uint8_t byte : sum) {
        hex += fmt::format("{:02x}", byte);
    }
    return hex;
}

}  // namespace

SeccompFilter compile_seccomp_cached(const Seccomp& seccomp, const std::string& directory) {
    const std::string path = directory + "/" + cache_key(seccomp);
    try {
        if (auto cached = load_seccomp_file(path)) {
            return std::move(*cached);
        }
    } catch (const Error&) {
        // Damaged: compiled again below, and replaced.
    }
    SeccompFilter compiled = compile_seccomp(seccomp);
    // A cache: when it cannot be written, the next create compiles again.
    std::error_code error;
    std::filesystem::create_directories(directory, error);
    if (!error) {
        try {
            save_seccomp_file(path, compiled);
        } catch (const Error&) {
        }
    }
    return compiled;
}

std::string seccomp_cache_directory() {
    return ::geteuid() == 0 ? "/run/berth/seccomp-cache" : std::string();
}

}  // namespace berth::container::oci
