#include "vmm/common/error.hpp"

#include <cstring>

#include <fmt/format.h>

namespace berth {

std::string errno_message(const std::string& what, int err) {
    return fmt::format("{}: {} (errno {})", what, std::strerror(err), err);
}

void throw_errno(const std::string& what, int err) {
    throw Error(errno_message(what, err));
}

}  // namespace berth
