#include "devices/virtio/rng.hpp"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>

namespace berth::devices::virtio {

namespace {

// One request gets at most this much: a guest asking for gigabytes of entropy at once
// would otherwise keep the worker busy for long.
constexpr std::uint64_t max_request_bytes = 1 << 20;

std::uint64_t fill_random(std::span<std::uint8_t> out) {
    std::uint64_t done = 0;
    while (done < out.size()) {
        const ssize_t n = ::getrandom(out.data() + done, out.size() - done, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        done += static_cast<std::uint64_t>(n);
    }
    return done;
}

}  // namespace

void Rng::process(std::uint16_t, SplitQueue& queue) {
    while (auto chain = queue.pop()) {
        std::uint64_t filled = 0;
        if (chain->malformed.empty()) {
            for (const auto& buffer : chain->writable) {
                const std::uint64_t want =
                    std::min<std::uint64_t>(buffer.length, max_request_bytes - filled);
                const std::uint64_t got = fill_random(queue.memory().span(buffer.address, want));
                filled += got;
                if (got < want || filled == max_request_bytes) {
                    break;
                }
            }
        }
        bytes_given_ += filled;
        queue.push_used(chain->head, static_cast<std::uint32_t>(filled));
    }
}

}  // namespace berth::devices::virtio
