#pragma once
// virtio-net (virtio 1.2 §5.1): one receive queue (0) and one transmit queue (1),
// Ethernet frames to and from a PacketBackend, which is all the model knows of the
// host side (user-mode NAT, a tap: vmm/machine/virtio_net_spec.cpp picks one).
//
// Offered: VERSION_1 (so every frame has the 12-byte virtio_net_hdr_v1), MAC, STATUS
// (the link is always up), MTU, MRG_RXBUF (a received frame may fill several of the
// guest's buffers; the first header's num_buffers says how many), and the checksum and
// TCP segmentation offloads the backend can carry (PacketBackend::offloads(): a tap with
// a vnet header can, user-mode NAT cannot). With none, every frame is whole and
// checksummed both ways, and a header that asks for either is refused; with them, the
// header travels with the frame to and from the backend, so the guest hands over and
// takes TCP segments of up to 64 KiB with their checksums left to the host (one ring
// entry and one exit where there would be 44 of each).
//
// Control queue (2; CTRL_VQ) and GUEST_ANNOUNCE (§5.1.6.5.4): the only class served is
// ANNOUNCE's ACK. announce() (after a restore, whose host side is new: a fresh slirp or
// tap) sets STATUS_ANNOUNCE in the configuration and raises the configuration-change
// interrupt; the guest sends its gratuitous ARP / unsolicited NA and acknowledges with
// VIRTIO_NET_CTRL_ANNOUNCE_ACK, which clears the bit. Every other command (classes not
// offered: RX, MAC, VLAN, MQ, offloads) and every malformed one gets VIRTIO_NET_ERR when
// there is a byte to write it to, and is returned.
//
// Snapshots: receive chains held for a frame that did not fit yet are popped but not
// used; save_state() records their heads, and after restore_state() the first
// fill_receive() takes them again from the ring (SplitQueue::chain), so none is lost or
// used twice. Frames waiting for buffers are not kept: the network loses them, as a
// NIC's queue would.
//
// Threads: frames from the backend arrive on its thread (receive()); they wait in a
// bounded list and kick queue 0, whose process() runs on the transport's worker and
// copies them into the guest's buffers. The guest's frames go out from process(1), on
// the same worker, straight to the backend. Neither ever runs on a vCPU thread.
//
// Hostile rings: a transmit chain that is malformed, has a device-writable buffer, a
// header shorter than 12 bytes or a frame out of bounds is returned unsent; a receive
// chain that is malformed, device-readable or shorter than a header is returned empty
// (used length 0) and the frame goes to the next one. A broken ring (loops, indices
// out of range) throws from the queue and the transport sets NEEDS_RESET.

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "devices/virtio/device.hpp"

namespace berth::devices::virtio {

inline constexpr std::uint64_t net_feature_csum = 1ULL << 0;
inline constexpr std::uint64_t net_feature_guest_csum = 1ULL << 1;
inline constexpr std::uint64_t net_feature_mtu = 1ULL << 3;
inline constexpr std::uint64_t net_feature_mac = 1ULL << 5;
inline constexpr std::uint64_t net_feature_guest_tso4 = 1ULL << 7;
inline constexpr std::uint64_t net_feature_guest_tso6 = 1ULL << 8;
inline constexpr std::uint64_t net_feature_host_tso4 = 1ULL << 11;
inline constexpr std::uint64_t net_feature_host_tso6 = 1ULL << 12;
inline constexpr std::uint64_t net_feature_mrg_rxbuf = 1ULL << 15;
inline constexpr std::uint64_t net_feature_status = 1ULL << 16;
inline constexpr std::uint64_t net_feature_ctrl_vq = 1ULL << 17;
inline constexpr std::uint64_t net_feature_guest_announce = 1ULL << 21;

inline constexpr std::uint16_t net_status_link_up = 1;
inline constexpr std::uint16_t net_status_announce = 2;
// Control queue commands: a class and a command byte, data, then one writable ack byte.
inline constexpr std::uint8_t net_ctrl_class_announce = 3;
inline constexpr std::uint8_t net_ctrl_announce_ack = 0;
inline constexpr std::uint8_t net_ctrl_ok = 0;
inline constexpr std::uint8_t net_ctrl_err = 1;
inline constexpr std::uint8_t net_hdr_flag_needs_csum = 1;
inline constexpr std::uint8_t net_hdr_gso_none = 0;
inline constexpr std::uint8_t net_hdr_gso_tcpv4 = 1;
inline constexpr std::uint8_t net_hdr_gso_tcpv6 = 4;
// The offloads a backend may carry, and each one's prerequisite (virtio 1.2 §5.1.3.1).
inline constexpr std::uint64_t net_offload_features =
    net_feature_csum | net_feature_guest_csum | net_feature_guest_tso4 | net_feature_guest_tso6 |
    net_feature_host_tso4 | net_feature_host_tso6;

inline constexpr std::uint16_t net_receive_queue = 0;
inline constexpr std::uint16_t net_transmit_queue = 1;
inline constexpr std::uint16_t net_control_queue = 2;

// struct virtio_net_hdr_v1, as the guest lays it out (little endian; x86 hosts only).
struct NetHeader {
    std::uint8_t flags;
    std::uint8_t gso_type;
    std::uint16_t hdr_len;
    std::uint16_t gso_size;
    std::uint16_t csum_start;
    std::uint16_t csum_offset;
    std::uint16_t num_buffers;
};
static_assert(sizeof(NetHeader) == 12);

using MacAddress = std::array<std::uint8_t, 6>;

// A frame on its way to the guest in a buffer of its own, which the NIC keeps until the
// guest has buffers for it: a backend that reads into a fresh buffer hands it over
// without a copy (in the rig, a 64 KiB memcpy is emulated instruction by instruction).
struct FrameBuffer {
    std::unique_ptr<std::uint8_t[]> bytes;
    std::size_t size = 0;

    static FrameBuffer copy_of(std::span<const std::uint8_t> frame);
    std::span<const std::uint8_t> view() const { return {bytes.get(), size}; }
};

// Carries Ethernet frames between the guest's NIC and the host. Implementations own
// their threads; destroying one stops them (no receive call runs after).
class PacketBackend {
public:
    using Receive = std::function<void(FrameBuffer&& frame)>;
    virtual ~PacketBackend() = default;
    // Starts delivering frames for the guest to `receive`, from the backend's own
    // thread. Called once, by the device's constructor, before the first send.
    virtual void start(Receive receive) = 0;
    // One frame from the guest (a whole Ethernet frame, no virtio header; with
    // offloads, the header and then the frame). May drop it when the host side is
    // congested, as a NIC may; must not block for long.
    virtual void send(std::span<const std::uint8_t> frame) = 0;

    // The net_offload_features the host side can carry. Not zero: every frame, both
    // ways, starts with a NetHeader (num_buffers is 0 from the backend and ignored by it).
    virtual std::uint64_t offloads() const { return 0; }
    // The offloads the driver accepted (0 on reset): which of them the backend may hand
    // the guest (segments not yet cut, checksums not yet filled in).
    virtual void enable_offloads(std::uint64_t /*features*/) {}
};

struct NetCounters {
    std::uint64_t sent = 0;                 // frames handed to the backend
    std::uint64_t send_dropped = 0;         // transmit chains refused (bad chain or header)
    std::uint64_t received = 0;             // frames put into the guest's buffers
    std::uint64_t receive_dropped = 0;      // frames lost: list full, or no buffer fits
    std::uint64_t bad_receive_buffers = 0;  // receive chains returned empty
};

class Net : public Device {
public:
    static constexpr std::uint16_t mtu = 1500;
    // Ethernet header and one VLAN tag on top of the MTU: the longest frame either way.
    static constexpr std::size_t max_frame = mtu + 14 + 4;
    // With segmentation offload: a 64 KiB IP packet with the same.
    static constexpr std::size_t max_offload_frame = 65535 + 14 + 4;
    static constexpr std::size_t min_frame = 14;  // an Ethernet header
    // Frames waiting for receive buffers; more are dropped (TCP sends them again).
    static constexpr std::size_t pending_limit = 256;

    Net(std::unique_ptr<PacketBackend> backend, MacAddress mac, std::string name);
    ~Net() override;

    std::string_view name() const override { return name_; }
    DeviceType type() const override { return DeviceType::net; }
    std::uint32_t pci_class() const override { return 0x020000; }  // network, Ethernet
    std::uint64_t features() const override;
    std::uint16_t queue_count() const override { return 3; }
    std::uint32_t config_size() const override { return 12; }
    void read_config(std::uint32_t offset, std::span<std::uint8_t> data) const override;
    void negotiated(std::uint64_t features) override;
    void process(std::uint16_t index, SplitQueue& queue) override;
    void reset() override;
    std::vector<std::uint8_t> save_state() const override;
    void restore_state(std::span<const std::uint8_t> state) override;
    void restored() override { announce(); }

    // Asks the guest to announce its addresses (when it took GUEST_ANNOUNCE; else
    // nothing): STATUS_ANNOUNCE and a configuration-change interrupt.
    void announce();
    bool announcing() const { return announcing_; }

    // A frame for the guest (any thread; the backend's). Copied; dropped when
    // pending_limit frames wait already or it is not a plausible Ethernet frame.
    void receive(std::span<const std::uint8_t> frame);
    // The same, keeping the buffer.
    void receive(FrameBuffer&& frame);

    NetCounters counters() const;

private:
    void control(SplitQueue& queue);
    std::uint8_t control_one(SplitQueue& queue, const DescriptorChain& chain);
    void transmit(SplitQueue& queue);
    bool transmit_one(SplitQueue& queue, const DescriptorChain& chain);
    // Whether the guest's header asks only for what was negotiated, within the frame.
    bool acceptable_transmit_header(const NetHeader& header, std::uint64_t frame_size) const;
    void fill_receive(SplitQueue& queue);
    // Takes receive chains until `bytes` fit (one chain without MRG_RXBUF); false when
    // the guest has posted too few.
    bool hold_buffers(SplitQueue& queue, std::uint64_t bytes);
    // Writes the header and `frame` into the held chains and returns the ones it used.
    void deliver(SplitQueue& queue, std::span<const std::uint8_t> frame);

    MacAddress mac_;
    std::string name_;
    std::unique_ptr<PacketBackend> backend_;
    const std::uint64_t offloads_;  // backend_->offloads(): frames carry their header
    std::atomic<bool> mergeable_{false};
    std::atomic<std::uint64_t> negotiated_{0};
    std::atomic<bool> announcing_{false};  // STATUS_ANNOUNCE, until the guest's ACK

    mutable std::mutex mutex_;  // what follows: backend thread and worker
    std::deque<FrameBuffer> pending_;
    NetCounters counters_;
    // Receive chains taken from the ring for a frame that did not fit yet (popped, not
    // used); they belong to queue `held_queue_`.
    std::vector<DescriptorChain> held_;
    std::uint64_t held_bytes_ = 0;
    std::uint64_t held_queue_ = 0;
    // Heads of held chains a restore brought back, taken again on the first fill.
    std::vector<std::uint16_t> restored_heads_;
    std::vector<std::uint8_t> transmit_buffer_;
};

}  // namespace berth::devices::virtio
