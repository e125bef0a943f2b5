#pragma once
// The names of setrlimit's resources as the runtime-spec writes them ("RLIMIT_NOFILE").

#include <optional>
#include <string>
#include <string_view>

namespace berth::container {

// The resource named `name`, or nothing when there is none by that name.
std::optional<int> rlimit_resource(std::string_view name);
// "RLIMIT_NOFILE" for RLIMIT_NOFILE.
const char* rlimit_name(int resource);
// All names, comma-separated, for an error that lists them.
std::string rlimit_names();

}  // namespace berth::container
