#include "devices/virtio/net.hpp"

#include <algorithm>
#include <cstring>

namespace berth::devices::virtio {

namespace {

constexpr std::uint64_t header_size = sizeof(NetHeader);

std::span<const std::uint8_t> bytes_of(const NetHeader& header) {
    return {reinterpret_cast<const std::uint8_t*>(&header), sizeof header};
}

// A receive chain the device can write a header into: whole, device-writable only.
bool usable_receive_chain(const DescriptorChain& chain) {
    return chain.malformed.empty() && chain.readable.empty() &&
           chain.writable_bytes() >= header_size;
}

}  // namespace

Net::Net(std::unique_ptr<PacketBackend> backend, MacAddress mac, std::string name)
    : mac_(mac), name_(std::move(name)), backend_(std::move(backend)) {
    // Frames that arrive before the driver is ready wait in `pending_` (bounded);
    // kicks before the transport is attached go nowhere, and its worker serves every
    // queue when it starts.
    backend_->start([this](std::span<const std::uint8_t> frame) { receive(frame); });
}

Net::~Net() {
    // First of all: no receive() may run once the members below are going away.
    backend_.reset();
}

std::uint64_t Net::features() const {
    return net_feature_mac | net_feature_status | net_feature_mtu | net_feature_mrg_rxbuf;
}

void Net::read_config(std::uint32_t offset, std::span<std::uint8_t> data) const {
    // mac[6], status, max_virtqueue_pairs, mtu (each 16-bit little endian).
    std::array<std::uint8_t, 12> config{};
    std::copy(mac_.begin(), mac_.end(), config.begin());
    config[6] = net_status_link_up;
    config[8] = 1;
    config[10] = mtu & 0xff;
    config[11] = mtu >> 8;
    for (std::size_t i = 0; i < data.size(); ++i) {
        data[i] = offset + i < config.size() ? config[offset + i] : 0;
    }
}

void Net::negotiated(std::uint64_t features) {
    mergeable_ = (features & net_feature_mrg_rxbuf) != 0;
}

void Net::reset() {
    const std::lock_guard lock(mutex_);
    pending_.clear();
    held_.clear();
    held_bytes_ = 0;
    mergeable_ = false;
}

NetCounters Net::counters() const {
    const std::lock_guard lock(mutex_);
    return counters_;
}

void Net::process(std::uint16_t index, SplitQueue& queue) {
    if (index == net_receive_queue) {
        fill_receive(queue);
    } else if (index == net_transmit_queue) {
        transmit(queue);
    }
}

// --- guest to host ---------------------------------------------------------------------

void Net::transmit(SplitQueue& queue) {
    while (auto chain = queue.pop()) {
        // The backend is called without the lock: it may hand a frame straight back.
        const bool sent = transmit_one(queue, *chain);
        queue.push_used(chain->head, 0);
        const std::lock_guard lock(mutex_);
        ++(sent ? counters_.sent : counters_.send_dropped);
    }
}

bool Net::transmit_one(SplitQueue& queue, const DescriptorChain& chain) {
    if (!chain.malformed.empty() || !chain.writable.empty()) {
        return false;  // outside RAM, or the guest wants something written back
    }
    const std::uint64_t total = chain.readable_bytes();
    if (total < header_size + min_frame || total > header_size + max_frame) {
        return false;
    }
    NetHeader header{};
    queue.gather(chain, 0, std::span(reinterpret_cast<std::uint8_t*>(&header), sizeof header));
    // Offloads we did not offer: the frame is not whole or not checksummed.
    if (header.gso_type != net_hdr_gso_none || (header.flags & net_hdr_flag_needs_csum) != 0) {
        return false;
    }
    transmit_buffer_.resize(total - header_size);
    if (queue.gather(chain, header_size, transmit_buffer_) != transmit_buffer_.size()) {
        return false;
    }
    backend_->send(transmit_buffer_);
    return true;
}

// --- host to guest ---------------------------------------------------------------------

void Net::receive(std::span<const std::uint8_t> frame) {
    {
        const std::lock_guard lock(mutex_);
        if (frame.size() < min_frame || frame.size() > max_frame ||
            pending_.size() >= pending_limit) {
            ++counters_.receive_dropped;
            return;
        }
        pending_.emplace_back(frame.begin(), frame.end());
    }
    kick(net_receive_queue);
}

void Net::fill_receive(SplitQueue& queue) {
    const std::lock_guard lock(mutex_);
    if (held_queue_ != queue.id()) {
        // The driver reset the queue: chains taken from the old one mean nothing now.
        held_.clear();
        held_bytes_ = 0;
        held_queue_ = queue.id();
    }
    while (!pending_.empty()) {
        const std::vector<std::uint8_t>& frame = pending_.front();
        if (!hold_buffers(queue, header_size + frame.size())) {
            if (mergeable_ || held_.empty()) {
                return;  // wait for the guest to post more buffers (it notifies us)
            }
            // Without MRG_RXBUF a frame must fit one buffer, and this one is too
            // small: lose the frame, keep the buffer for the next.
            ++counters_.receive_dropped;
            pending_.pop_front();
            continue;
        }
        deliver(queue, frame);
        ++counters_.received;
        pending_.pop_front();
    }
}

bool Net::hold_buffers(SplitQueue& queue, std::uint64_t bytes) {
    while (held_bytes_ < bytes && (mergeable_ || held_.empty())) {
        auto chain = queue.pop();
        if (!chain) {
            return false;
        }
        if (!usable_receive_chain(*chain)) {
            ++counters_.bad_receive_buffers;
            queue.push_used(chain->head, 0);
            continue;
        }
        held_bytes_ += chain->writable_bytes();
        held_.push_back(std::move(*chain));
    }
    return held_bytes_ >= bytes;
}

void Net::deliver(SplitQueue& queue, std::span<const std::uint8_t> frame) {
    // How many held chains the header and frame take, in order.
    std::uint64_t left = header_size + frame.size();
    std::size_t used = 0;
    while (left > 0 && used < held_.size()) {
        left -= std::min<std::uint64_t>(left, held_[used].writable_bytes());
        ++used;
    }
    NetHeader header{};
    header.gso_type = net_hdr_gso_none;
    // Without MRG_RXBUF the field is still there (VERSION_1) and must say 1.
    header.num_buffers = static_cast<std::uint16_t>(used);
    queue.scatter(held_[0], 0, bytes_of(header));

    // The frame follows the header in the first chain and runs on through the next.
    std::uint64_t offset = header_size;  // within the current chain
    std::size_t copied = 0;
    for (std::size_t i = 0; i < used; ++i) {
        const std::size_t count = queue.scatter(held_[i], offset, frame.subspan(copied));
        queue.push_used(held_[i].head, static_cast<std::uint32_t>(offset + count));
        copied += count;
        offset = 0;
    }
    for (std::size_t i = 0; i < used; ++i) {
        held_bytes_ -= held_[i].writable_bytes();
    }
    held_.erase(held_.begin(), held_.begin() + static_cast<long>(used));
}

}  // namespace berth::devices::virtio
