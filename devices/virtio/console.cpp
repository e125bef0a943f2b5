#include "devices/virtio/console.hpp"

#include <algorithm>
#include <vector>

namespace berth::devices::virtio {

namespace {

constexpr std::uint16_t receive_queue = 0;
constexpr std::uint16_t transmit_queue = 1;

}  // namespace

void Console::read_config(std::uint32_t offset, std::span<std::uint8_t> data) const {
    // cols, rows (unused without VIRTIO_CONSOLE_F_SIZE), max_nr_ports 1, emerg_wr 0.
    const std::uint8_t config[12] = {0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
    for (std::size_t i = 0; i < data.size(); ++i) {
        data[i] = offset + i < sizeof config ? config[offset + i] : 0;
    }
}

void Console::process(std::uint16_t index, SplitQueue& queue) {
    if (index == receive_queue) {
        fill_receive(queue);
    } else if (index == transmit_queue) {
        drain_transmit(queue);
    }
}

void Console::reset() {
    const std::lock_guard lock(input_mutex_);
    input_.clear();
}

std::size_t Console::receive(std::span<const std::uint8_t> bytes) {
    std::size_t accepted = 0;
    {
        const std::lock_guard lock(input_mutex_);
        accepted = std::min(bytes.size(), input_limit - input_.size());
        input_.insert(input_.end(), bytes.begin(), bytes.begin() + static_cast<long>(accepted));
    }
    kick(receive_queue);
    return accepted;
}

void Console::fill_receive(SplitQueue& queue) {
    const std::lock_guard lock(input_mutex_);
    while (!input_.empty()) {
        auto chain = queue.pop();
        if (!chain) {
            return;  // the guest has no buffer posted: keep the input until it does
        }
        std::vector<std::uint8_t> bytes;
        if (chain->malformed.empty()) {
            const std::size_t count =
                std::min<std::uint64_t>(input_.size(), chain->writable_bytes());
            bytes.assign(input_.begin(), input_.begin() + static_cast<long>(count));
            queue.scatter(*chain, 0, bytes);
            input_.erase(input_.begin(), input_.begin() + static_cast<long>(count));
        }
        queue.push_used(chain->head, static_cast<std::uint32_t>(bytes.size()));
    }
}

void Console::drain_transmit(SplitQueue& queue) {
    std::vector<std::uint8_t> bytes;
    while (auto chain = queue.pop()) {
        if (chain->malformed.empty()) {
            // Output buffers are small (a line or a page); cap anyway.
            bytes.resize(std::min<std::uint64_t>(chain->readable_bytes(), 1 << 20));
            bytes.resize(queue.gather(*chain, 0, bytes));
            if (output_ && !bytes.empty()) {
                output_(bytes);
            }
        }
        queue.push_used(chain->head, 0);
    }
}

}  // namespace berth::devices::virtio
