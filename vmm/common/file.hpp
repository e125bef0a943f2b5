#pragma once
// Reading whole input files (firmware, kernels, initrds) with errors that name the
// file and say what to do.

#include <cstdint>
#include <filesystem>
#include <string_view>
#include <vector>

namespace berth {

// Reads all of `path`. `what` names the role ("firmware", "kernel") for messages.
// A missing, unreadable or non-regular file is a bad-input Error.
std::vector<std::uint8_t> read_input_file(const std::filesystem::path& path, std::string_view what);

}  // namespace berth
