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
// Threads: everything runs on the transport's worker, host side included. The backend's
// descriptors join the worker's wait (Device::add_host_waits): a tap's frames are read
// straight into the guest's receive buffers (readv, no copy in berth) and user-mode NAT
// runs its sockets and timers there, handing its frames over on the worker too. The
// guest's frames go from process(1) to the backend, a tap's straight out of guest
// memory (writev). Frames a backend hands over otherwise (a DHCP reply; a test's, from
// any thread) wait in a bounded list that queue 0's process() empties. Nothing runs on
// a vCPU thread, and no frame crosses threads on the way.
//
// Hostile rings: a transmit chain that is malformed, has a device-writable buffer, a
// header shorter than 12 bytes or a frame out of bounds is returned unsent; a receive
// chain that is malformed, device-readable or shorter than a header is returned empty
// (used length 0) and the frame goes to the next one. A broken ring (loops, indices
// out of range) throws from the queue and the transport sets NEEDS_RESET.

#include <sys/uio.h>

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

// A frame waiting for the guest's buffers, in a buffer of its own.
struct FrameBuffer {
    std::unique_ptr<std::uint8_t[]> bytes;
    std::size_t size = 0;

    static FrameBuffer copy_of(std::span<const std::uint8_t> frame);
    std::span<const std::uint8_t> view() const { return {bytes.get(), size}; }
};

// Carries Ethernet frames between the guest's NIC and the host. Every call but the
// constructor's start() comes from the NIC's worker (see Net's Threads).
class PacketBackend {
public:
    using Receive = std::function<void(std::span<const std::uint8_t> frame)>;
    virtual ~PacketBackend() = default;
    // Where frames for the guest go that the backend hands over itself (any thread; on
    // the worker, in waited(), straight into a receive buffer when there is room, else
    // copied to wait). Called once, by the device's constructor, before the first send.
    virtual void start(Receive receive) = 0;
    // One frame from the guest (a whole Ethernet frame, no virtio header; with
    // offloads, the header and then the frame). May drop it when the host side is
    // congested, as a NIC may; must not block for long.
    virtual void send(std::span<const std::uint8_t> frame) = 0;
    // The same frame as pieces of guest memory (never more than IOV_MAX): a backend that
    // can write them out as they are (a tap, with writev) saves the copy; the default
    // gathers them for send().
    virtual void send_pieces(std::span<const iovec> pieces);

    // Whether every frame, both ways, starts with a NetHeader (num_buffers is 0 from the
    // backend and ignored by it): a tap with a vnet header, whatever offloads it carries.
    // Said apart from offloads(), because a tap whose kernel takes none still has one.
    virtual bool framed_with_header() const { return false; }
    // The net_offload_features the host side can carry; they travel in the header, so
    // a backend that has any is framed_with_header().
    virtual std::uint64_t offloads() const { return 0; }
    // The offloads the driver accepted (0 on reset): which of them the backend may hand
    // the guest (segments not yet cut, checksums not yet filled in).
    virtual void enable_offloads(std::uint64_t /*features*/) {}

    // Frames that can be read straight into the guest's buffers (a tap's, each behind
    // its header: framed_with_header() only): frame_fd() is readable when one waits
    // (-1: no such frames), and read_frame() reads one into `into`, which holds the
    // longest one, and returns its size; 0 when none waits; -1 when one was lost.
    virtual int frame_fd() const { return -1; }
    virtual long read_frame(std::span<const iovec> /*into*/) { return 0; }
    // Host-side work of the backend's own on the worker (Device::add_host_waits):
    // descriptors and a timeout to wait on, then what to do with the result; frames for
    // the guest go to the receive function meanwhile.
    virtual void add_waits(std::vector<pollfd>& /*fds*/, int& /*timeout_ms*/) {}
    virtual void waited(std::span<const pollfd> /*fds*/) {}
    // The worker's kind (Device::worker_kind) when the backend needs more of the host
    // there than the NIC does (user-mode NAT's sockets). Empty: the NIC's.
    virtual std::string_view worker_kind() const { return {}; }
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
    std::string_view worker_kind() const override { return backend_->worker_kind(); }
    std::uint32_t pci_class() const override { return 0x020000; }  // network, Ethernet
    std::uint64_t features() const override;
    std::uint16_t queue_count() const override { return 3; }
    // Its queues share one MSI-X vector: on a request and reply (a ping), the frame
    // sent comes back used and the reply arrives in the same worker pass, and one
    // interrupt, one guest entry and one EOI serve both instead of two.
    std::uint16_t queue_vectors() const override { return 1; }
    std::uint32_t config_size() const override { return 12; }
    void read_config(std::uint32_t offset, std::span<std::uint8_t> data) const override;
    void negotiated(std::uint64_t features) override;
    void process(std::uint16_t index, SplitQueue& queue) override;
    void reset() override;
    void add_host_waits(std::vector<pollfd>& fds, int& timeout_ms) override;
    std::uint32_t host_ready(std::span<const pollfd> fds, const QueueLookup& queues) override;
    std::vector<std::uint8_t> save_state() const override;
    void restore_state(std::span<const std::uint8_t> state) override;
    void restored() override { announce(); }

    // Asks the guest to announce its addresses (when it took GUEST_ANNOUNCE; else
    // nothing): STATUS_ANNOUNCE and a configuration-change interrupt.
    void announce();
    bool announcing() const { return announcing_; }

    // A frame for the guest (any thread; the backend's). Put into the guest's buffers at
    // once when host_ready() lent the receive queue and there is room, else copied to
    // wait for process(0); dropped when pending_limit frames wait already or it is not a
    // plausible Ethernet frame.
    void receive(std::span<const std::uint8_t> frame);

    NetCounters counters() const;

private:
    void control(SplitQueue& queue);
    std::uint8_t control_one(SplitQueue& queue, const DescriptorChain& chain);
    void transmit(SplitQueue& queue);
    bool transmit_one(SplitQueue& queue, const DescriptorChain& chain);
    // Whether the guest's header asks only for what was negotiated, within the frame.
    bool acceptable_transmit_header(const NetHeader& header, std::uint64_t frame_size) const;
    void fill_receive(SplitQueue& queue);
    // Takes back the chains a restore said were held (the first fill of a queue).
    void take_restored_chains(SplitQueue& queue);
    // Puts waiting frames into the guest's buffers; false when one must wait for more.
    bool deliver_pending(SplitQueue& queue);
    // receive() on the worker, with the queue host_ready() lent: true when `frame` went
    // into the guest's buffers.
    bool deliver_now(std::span<const std::uint8_t> frame);
    // Reads the backend's frames (frame_fd) into the guest's buffers; false when it
    // stopped for want of them.
    bool read_frames(SplitQueue& queue);
    // Takes receive chains until `bytes` fit (one chain without MRG_RXBUF); false when
    // the guest has posted too few.
    bool hold_buffers(SplitQueue& queue, std::uint64_t bytes);
    // Writes the header and `frame` into the held chains and returns the ones it used.
    void deliver(SplitQueue& queue, std::span<const std::uint8_t> frame);
    // Returns the held chains that `length` bytes, written from the first one's start
    // (a header, then the frame), filled, after setting num_buffers (and clearing flags
    // a driver without GUEST_CSUM must not see) in that header.
    void use_held(SplitQueue& queue, std::uint64_t length);
    // The longest frame the backend may hand over now, its header included.
    std::uint64_t longest_received() const;
    // The longest frame either way that the backend's offloads allow (no header).
    std::size_t longest_frame() const { return offloads_ != 0 ? max_offload_frame : max_frame; }
    // The bytes a frame from the backend (with its header when framed_) takes in the
    // guest's receive buffers, where it always stands behind one.
    std::uint64_t receive_bytes(std::span<const std::uint8_t> frame) const;

    MacAddress mac_;
    std::string name_;
    std::unique_ptr<PacketBackend> backend_;
    const bool framed_;             // backend_->framed_with_header()
    const std::uint64_t offloads_;  // backend_->offloads()
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
    // Worker only: the receive queue has been served since the last reset (so a tap's
    // frames have somewhere to go), and it ran out of buffers (so the tap can wait for
    // the guest's notification).
    bool receiving_ = false;
    bool out_of_buffers_ = false;
    bool on_worker_ = false;            // in host_ready(): frames handed over need no kick
    SplitQueue* lent_queue_ = nullptr;  // in host_ready(): the receive queue, if enabled
    bool delivered_now_ = false;        // in host_ready(): a frame went in (interrupt)
    std::vector<std::uint8_t> transmit_buffer_;
    std::vector<iovec> pieces_;
};

}  // namespace berth::devices::virtio
