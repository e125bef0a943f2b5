#include "devices/virtio/net.hpp"

#include <algorithm>
#include <climits>
#include <cstring>

#include <fmt/format.h>

#include "vmm/common/error.hpp"

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
    : mac_(mac),
      name_(std::move(name)),
      backend_(std::move(backend)),
      framed_(backend_->framed_with_header()),
      offloads_(backend_->offloads() & net_offload_features) {
    // Offloads travel in the header, and frames read from frame_fd() come behind one.
    if ((offloads_ != 0 || backend_->frame_fd() >= 0) && !framed_) {
        throw Error(fmt::format("{}: the backend's frames need a virtio-net header", name_));
    }
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
    return net_feature_mac | net_feature_status | net_feature_mtu | net_feature_mrg_rxbuf |
           net_feature_ctrl_vq | net_feature_guest_announce | offloads_;
}

void Net::read_config(std::uint32_t offset, std::span<std::uint8_t> data) const {
    // mac[6], status, max_virtqueue_pairs, mtu (each 16-bit little endian).
    std::array<std::uint8_t, 12> config{};
    std::copy(mac_.begin(), mac_.end(), config.begin());
    config[6] = net_status_link_up | (announcing_ ? net_status_announce : 0);
    config[8] = 1;
    config[10] = mtu & 0xff;
    config[11] = mtu >> 8;
    for (std::size_t i = 0; i < data.size(); ++i) {
        data[i] = offset + i < config.size() ? config[offset + i] : 0;
    }
}

void Net::negotiated(std::uint64_t features) {
    mergeable_ = (features & net_feature_mrg_rxbuf) != 0;
    negotiated_ = features;
    if (offloads_ != 0) {
        backend_->enable_offloads(features & offloads_);
    }
}

void Net::reset() {
    const std::lock_guard lock(mutex_);
    pending_.clear();
    held_.clear();
    held_bytes_ = 0;
    restored_heads_.clear();
    receiving_ = false;
    out_of_buffers_ = false;
    mergeable_ = false;
    negotiated_ = 0;
    announcing_ = false;
    if (offloads_ != 0) {
        backend_->enable_offloads(0);
    }
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
    } else if (index == net_control_queue) {
        control(queue);
    }
}

// --- control queue and announcements ---------------------------------------------------

void Net::announce() {
    if ((negotiated_ & net_feature_guest_announce) == 0) {
        return;  // a driver without it has nothing to acknowledge with
    }
    announcing_ = true;
    config_changed();
}

void Net::control(SplitQueue& queue) {
    while (auto chain = queue.pop()) {
        const std::uint8_t ack = control_one(queue, *chain);
        // The ack goes into the first writable byte; a chain without one gets nothing.
        const bool writable = chain->malformed.empty() && chain->writable_bytes() >= 1;
        if (writable) {
            queue.scatter(*chain, 0, std::span(&ack, 1));
        }
        queue.push_used(chain->head, writable ? 1 : 0);
    }
}

std::uint8_t Net::control_one(SplitQueue& queue, const DescriptorChain& chain) {
    // class, command (and the command's data), then the ack: anything shorter, or a
    // driver-readable byte after a writable one (the queue refuses those), is an error.
    if (!chain.malformed.empty() || chain.readable_bytes() < 2 || chain.writable_bytes() < 1) {
        return net_ctrl_err;
    }
    std::array<std::uint8_t, 2> command{};
    if (queue.gather(chain, 0, command) != command.size()) {
        return net_ctrl_err;
    }
    if (command[0] == net_ctrl_class_announce && command[1] == net_ctrl_announce_ack &&
        chain.readable_bytes() == 2 && (negotiated_ & net_feature_guest_announce) != 0) {
        announcing_ = false;
        return net_ctrl_ok;
    }
    return net_ctrl_err;  // a class or command not offered
}

// --- snapshots -------------------------------------------------------------------------

// Layout: a count (16 bits, little endian) and that many 16-bit heads of held receive
// chains, in the order they were taken.
std::vector<std::uint8_t> Net::save_state() const {
    const std::lock_guard lock(mutex_);
    std::vector<std::uint16_t> heads = restored_heads_;
    for (const auto& chain : held_) {
        heads.push_back(chain.head);
    }
    std::vector<std::uint8_t> state;
    state.push_back(static_cast<std::uint8_t>(heads.size()));
    state.push_back(static_cast<std::uint8_t>(heads.size() >> 8));
    for (const std::uint16_t head : heads) {
        state.push_back(static_cast<std::uint8_t>(head));
        state.push_back(static_cast<std::uint8_t>(head >> 8));
    }
    return state;
}

void Net::restore_state(std::span<const std::uint8_t> state) {
    if (state.size() < 2 ||
        state.size() != 2 + 2 * static_cast<std::size_t>(state[0] | state[1] << 8)) {
        throw Error(fmt::format("{}: the saved device state has the wrong size", name_));
    }
    const std::lock_guard lock(mutex_);
    held_.clear();
    held_bytes_ = 0;
    restored_heads_.clear();
    for (std::size_t i = 2; i < state.size(); i += 2) {
        restored_heads_.push_back(static_cast<std::uint16_t>(state[i] | state[i + 1] << 8));
    }
}

// --- guest to host ---------------------------------------------------------------------

void PacketBackend::send_pieces(std::span<const iovec> pieces) {
    std::vector<std::uint8_t> frame;
    for (const iovec& piece : pieces) {
        const auto* bytes = static_cast<const std::uint8_t*>(piece.iov_base);
        frame.insert(frame.end(), bytes, bytes + piece.iov_len);
    }
    send(frame);
}

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
    if (total < header_size + min_frame || total > header_size + longest_frame()) {
        return false;
    }
    NetHeader header{};
    queue.gather(chain, 0, std::span(reinterpret_cast<std::uint8_t*>(&header), sizeof header));
    if (!acceptable_transmit_header(header, total - header_size)) {
        return false;
    }
    // A backend that frames with a header (a tap) takes the guest's along, does what it
    // asks, and takes the frame as it lies in guest memory.
    if (framed_) {
        pieces_.clear();
        queue.readable_iovecs(chain, 0, total, pieces_);
        if (pieces_.size() <= IOV_MAX) {
            backend_->send_pieces(pieces_);
            return true;
        }
    }
    const std::uint64_t skip = framed_ ? 0 : header_size;
    transmit_buffer_.resize(total - skip);
    if (queue.gather(chain, skip, transmit_buffer_) != transmit_buffer_.size()) {
        return false;
    }
    backend_->send(transmit_buffer_);
    return true;
}

bool Net::acceptable_transmit_header(const NetHeader& header, std::uint64_t frame_size) const {
    const std::uint64_t features = negotiated_;
    if ((header.flags & net_hdr_flag_needs_csum) != 0) {
        // A checksum we did not offer, or one whose place lies outside the frame.
        if ((features & net_feature_csum) == 0 ||
            std::uint64_t{header.csum_start} + header.csum_offset + 2 > frame_size) {
            return false;
        }
    }
    switch (header.gso_type) {
        case net_hdr_gso_none:
            // A frame longer than the MTU allows is only for segmentation.
            return frame_size <= max_frame;
        case net_hdr_gso_tcpv4:
            return (features & net_feature_host_tso4) != 0 && header.gso_size != 0 &&
                   (header.flags & net_hdr_flag_needs_csum) != 0;
        case net_hdr_gso_tcpv6:
            return (features & net_feature_host_tso6) != 0 && header.gso_size != 0 &&
                   (header.flags & net_hdr_flag_needs_csum) != 0;
        default:
            return false;  // UDP fragmentation, ECN: never offered
    }
}

// --- host to guest ---------------------------------------------------------------------

void Net::add_host_waits(std::vector<pollfd>& fds, int& timeout_ms) {
    // The tap only while its frames have somewhere to go: a frame the guest has no
    // buffers for stays in the tap's queue until the guest's notification, instead of
    // waking the worker for nothing.
    const int frames = backend_->frame_fd();
    if (frames >= 0 && receiving_ && !out_of_buffers_) {
        fds.push_back({frames, POLLIN, 0});
    }
    backend_->add_waits(fds, timeout_ms);
}

std::uint32_t Net::host_ready(std::span<const pollfd> fds, const QueueLookup& queues) {
    bool frames_ready = false;
    for (const pollfd& fd : fds) {
        if (fd.fd == backend_->frame_fd() && fd.fd >= 0 && (fd.revents & POLLIN) != 0) {
            frames_ready = true;
        }
    }
    {
        // Frames the backend hands over meanwhile (user-mode NAT's) go straight into
        // the receive queue, once the driver has used it (receiving_).
        const std::lock_guard lock(mutex_);
        on_worker_ = true;
        lent_queue_ = receiving_ ? queues(net_receive_queue) : nullptr;
        delivered_now_ = false;
    }
    backend_->waited(fds);
    const std::lock_guard lock(mutex_);
    on_worker_ = false;
    lent_queue_ = nullptr;
    // Queue 0's pass reads the tap, delivers what waits, and interrupts for both.
    return frames_ready || delivered_now_ || !pending_.empty() ? 1U << net_receive_queue : 0;
}

FrameBuffer FrameBuffer::copy_of(std::span<const std::uint8_t> frame) {
    FrameBuffer buffer{std::make_unique_for_overwrite<std::uint8_t[]>(frame.size()), frame.size()};
    std::copy(frame.begin(), frame.end(), buffer.bytes.get());
    return buffer;
}

void Net::receive(std::span<const std::uint8_t> frame) {
    {
        // A framing backend's frames start with their header.
        const std::uint64_t skip = framed_ ? header_size : 0;
        const std::lock_guard lock(mutex_);
        if (frame.size() < skip + min_frame || frame.size() > skip + longest_frame()) {
            ++counters_.receive_dropped;
            return;
        }
        if (lent_queue_ != nullptr && pending_.empty() && deliver_now(frame)) {
            return;
        }
        if (pending_.size() >= pending_limit) {
            ++counters_.receive_dropped;
            return;
        }
        pending_.push_back(FrameBuffer::copy_of(frame));
        // Frames waiting already have a kick coming, or wait for the guest's buffers,
        // whose notification serves them all: one wake-up per burst, not per frame. On
        // the worker, host_ready() serves them next.
        if (pending_.size() > 1 || on_worker_) {
            return;
        }
    }
    kick(net_receive_queue);
}

void Net::fill_receive(SplitQueue& queue) {
    const std::lock_guard lock(mutex_);
    if (held_queue_ != queue.id()) {
        take_restored_chains(queue);
    }
    receiving_ = true;
    out_of_buffers_ = !deliver_pending(queue) || !read_frames(queue);
}

void Net::take_restored_chains(SplitQueue& queue) {
    // The driver reset the queue: chains taken from the old one mean nothing now.
    held_.clear();
    held_bytes_ = 0;
    held_queue_ = queue.id();
    // Unless this is the queue a restore brought back with chains held: those are
    // popped already (its position is past them), and taken here again.
    for (const std::uint16_t head : restored_heads_) {
        DescriptorChain chain = queue.chain(head);
        if (!usable_receive_chain(chain)) {
            ++counters_.bad_receive_buffers;
            queue.push_used(chain.head, 0);
            continue;
        }
        held_bytes_ += chain.writable_bytes();
        held_.push_back(std::move(chain));
    }
    restored_heads_.clear();
}

bool Net::deliver_pending(SplitQueue& queue) {
    while (!pending_.empty()) {
        const std::span<const std::uint8_t> frame = pending_.front().view();
        if (!hold_buffers(queue, receive_bytes(frame))) {
            if (mergeable_ || held_.empty()) {
                return false;  // wait for the guest to post more buffers (it notifies us)
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
    return true;
}

bool Net::deliver_now(std::span<const std::uint8_t> frame) {
    SplitQueue& queue = *lent_queue_;
    try {
        if (held_queue_ != queue.id()) {
            take_restored_chains(queue);
        }
        if (!hold_buffers(queue, receive_bytes(frame))) {
            return false;  // waits, as any frame the guest has no room for
        }
        deliver(queue, frame);
    } catch (const std::exception&) {
        // A broken ring: the frame waits, and process(0) meets the same fault where the
        // transport handles it (NEEDS_RESET). The queue is not lent again this round.
        lent_queue_ = nullptr;
        return false;
    }
    ++counters_.received;
    delivered_now_ = true;
    return true;
}

std::uint64_t Net::receive_bytes(std::span<const std::uint8_t> frame) const {
    return frame.size() + (framed_ ? 0 : header_size);
}

std::uint64_t Net::longest_received() const {
    // Segments longer than the MTU come only when the driver took a TSO offload (the
    // backend was told so in enable_offloads).
    const std::uint64_t tso = net_feature_guest_tso4 | net_feature_guest_tso6;
    return header_size + ((negotiated_ & tso) != 0 ? max_offload_frame : max_frame);
}

bool Net::read_frames(SplitQueue& queue) {
    if (backend_->frame_fd() < 0) {
        return true;
    }
    // A burst at a time, so that the worker's other sources still come round.
    for (int burst = 0; burst < 64; ++burst) {
        const std::uint64_t longest = longest_received();
        if (mergeable_ && hold_buffers(queue, longest)) {
            // Straight into the held buffers, however many the frame turns out to take.
            pieces_.clear();
            for (const auto& chain : held_) {
                queue.writable_iovecs(chain, 0, chain.writable_bytes(), pieces_);
            }
            if (pieces_.size() <= IOV_MAX) {
                const long got = backend_->read_frame(pieces_);
                if (got == 0) {
                    return true;  // the tap is empty; its descriptor says when it is not
                }
                if (got < static_cast<long>(header_size + min_frame)) {
                    ++counters_.receive_dropped;  // lost, or no frame: the buffers stay held
                    continue;
                }
                use_held(queue, static_cast<std::uint64_t>(got));
                ++counters_.received;
                continue;
            }
        } else if (mergeable_ && held_.size() < queue.size()) {
            return false;  // the guest posts more buffers and notifies us
        }
        // The frame must fit one buffer (no MRG_RXBUF), or the guest's ring cannot hold
        // the longest frame, or its buffers come in too many pieces: read it aside and
        // let deliver_pending fit it, or lose it, as it does any other.
        auto bytes = std::make_unique_for_overwrite<std::uint8_t[]>(longest);
        const iovec whole{bytes.get(), longest};
        const long got = backend_->read_frame(std::span(&whole, 1));
        if (got == 0) {
            return true;
        }
        if (got < static_cast<long>(header_size + min_frame)) {
            ++counters_.receive_dropped;
            continue;
        }
        pending_.push_back(FrameBuffer{std::move(bytes), static_cast<std::size_t>(got)});
        if (!deliver_pending(queue)) {
            return false;
        }
    }
    return true;
}

void Net::use_held(SplitQueue& queue, std::uint64_t length) {
    // How many held chains `length` bytes fill, in order (1 without MRG_RXBUF: the field
    // is still there under VERSION_1 and must say so).
    std::size_t used = 0;
    for (std::uint64_t left = length; left > 0 && used < held_.size(); ++used) {
        left -= std::min<std::uint64_t>(left, held_[used].writable_bytes());
    }
    // The header is finished before any chain is returned: the driver may read it as
    // soon as the used index moves. A driver without GUEST_CSUM must see no flags
    // (virtio 1.2 §5.1.6.4.1); the backend was then asked for no offloads, so only its
    // "checksum checked" may be there.
    if ((negotiated_ & net_feature_guest_csum) == 0) {
        const std::array<std::uint8_t, 2> none{0, net_hdr_gso_none};
        queue.scatter(held_[0], offsetof(NetHeader, flags), none);
    }
    const std::uint16_t buffers = static_cast<std::uint16_t>(used);
    queue.scatter(held_[0], offsetof(NetHeader, num_buffers),
                  std::span(reinterpret_cast<const std::uint8_t*>(&buffers), sizeof buffers));
    std::uint64_t left = length;
    for (std::size_t i = 0; i < used; ++i) {
        const std::uint64_t count = std::min<std::uint64_t>(left, held_[i].writable_bytes());
        queue.push_used(held_[i].head, static_cast<std::uint32_t>(count));
        left -= count;
        held_bytes_ -= held_[i].writable_bytes();
    }
    held_.erase(held_.begin(), held_.begin() + static_cast<long>(used));
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

void Net::deliver(SplitQueue& queue, std::span<const std::uint8_t> packet) {
    // The header comes with the packet from a framing backend; else it is ours
    // (all zero: no flags, GSO_NONE). use_held() fills in num_buffers and hides flags
    // from a driver without GUEST_CSUM, as for a frame read straight into the chains.
    NetHeader header{};
    if (framed_) {
        std::memcpy(&header, packet.data(), sizeof header);
        packet = packet.subspan(sizeof header);
    }
    queue.scatter(held_[0], 0, bytes_of(header));
    // The frame follows the header in the first chain and runs on through the next.
    std::uint64_t offset = header_size;  // within the current chain
    std::size_t copied = 0;
    for (std::size_t i = 0; i < held_.size() && copied < packet.size(); ++i) {
        copied += queue.scatter(held_[i], offset, packet.subspan(copied));
        offset = 0;
    }
    use_held(queue, header_size + packet.size());
}

}  // namespace berth::devices::virtio
