#pragma once
// virtio-net whose frames never pass through berth: the host kernel's vhost-net
// (/dev/vhost-net, <linux/vhost.h>) reads the guest's rings and moves frames between
// them and a tap itself. berth keeps the PCI side (configuration, features, MSI-X) and,
// when the driver sets DRIVER_OK, hands the kernel the guest's memory map, each queue's
// rings (as addresses in this process, where guest RAM is mapped), the doorbell's
// eventfd (a KVM ioeventfd, so a kick goes from the guest to the vhost worker without
// leaving the kernel) and the eventfd of the queue's MSI-X vector (a KVM irqfd, so the
// used-buffer interrupt does not either), and finally the tap. On reset and at exit it
// takes the tap away again (VHOST_NET_SET_BACKEND with -1) and stops the rings.
//
// Features: what the model offers (MAC, STATUS, MTU, the tap's offloads) plus the
// ring features and MRG_RXBUF where the kernel's vhost-net has them (EVENT_IDX,
// INDIRECT_DESC; VERSION_1 is required). The tap carries the 12-byte virtio_net_hdr_v1
// itself (IFF_VNET_HDR, vmm/net/tap_device.hpp), so vhost is told to pass headers
// through (VHOST_NET_F_VIRTIO_NET_HDR is never acked) and the offloads are the tap's
// (TUNSETOFFLOAD), as with the model in net.hpp.
//
// MSI-X masks: the irqfd raises the vector even while the guest has it masked (Linux's
// virtio driver does not mask queue vectors while running; a masked one gets a
// spurious interrupt, which its handler tolerates).

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "devices/virtio/device.hpp"
#include "devices/virtio/net.hpp"
#include "vmm/common/unique_fd.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace berth::devices::virtio {

// What the device needs of its tap: its descriptor for vhost, and its offloads, which
// follow the driver's features (as PacketBackend's do).
class VhostTap {
public:
    virtual ~VhostTap() = default;
    virtual int fd() const = 0;
    // The net_offload_features the tap can carry.
    virtual std::uint64_t offloads() const = 0;
    // The ones the driver accepted (0 on reset).
    virtual void enable_offloads(std::uint64_t features) = 0;
};

// Guest bit 27 asks vhost-net to add and strip the virtio-net header itself (legacy).
inline constexpr std::uint64_t vhost_net_feature_virtio_net_hdr = 1ULL << 27;

// The ring features to offer the guest given vhost-net's (VHOST_GET_FEATURES): those of
// ring_features it has. Queue reset is never offered (the kernel's rings would need
// restarting one by one).
std::uint64_t vhost_ring_features(std::uint64_t kernel);
// The features to give VHOST_SET_FEATURES for what the driver accepted: the ring ones
// and MRG_RXBUF, where the kernel has them. Device-type bits (MAC, offloads) are the
// tap's business and the kernel refuses them.
std::uint64_t vhost_acked_features(std::uint64_t driver, std::uint64_t kernel);
// struct vhost_memory for `regions` as 64-bit words (header, then 4 words a region:
// guest address, size, host address, flags).
std::vector<std::uint64_t> vhost_memory_table(std::span<const memory::RamRegion> regions);

class VhostNet : public Device {
public:
    // Opens /dev/vhost-net. A missing device or no permission is a bad-input Error
    // that names the module and the privilege.
    static UniqueFd open_device();

    // Takes ownership of the vhost-net instance `vhost` (VHOST_SET_OWNER) and asks it
    // what it can do; throws when it lacks VERSION_1.
    VhostNet(UniqueFd vhost, std::unique_ptr<VhostTap> tap, MacAddress mac, std::string name);
    ~VhostNet() override;

    std::string_view name() const override { return name_; }
    DeviceType type() const override { return DeviceType::net; }
    std::uint32_t pci_class() const override { return 0x020000; }
    std::uint64_t features() const override;
    std::uint64_t supported_ring_features() const override;
    std::uint16_t queue_count() const override { return 2; }
    // Its queues share one MSI-X vector, as the model's do (Net::queue_vectors): the
    // kernel's worker returns a sent frame and puts its reply in back to back, and
    // one interrupt serves both.
    std::uint16_t queue_vectors() const override { return 1; }
    std::uint32_t config_size() const override { return 12; }
    void read_config(std::uint32_t offset, std::span<std::uint8_t> data) const override;
    void negotiated(std::uint64_t features) override;
    void process(std::uint16_t, SplitQueue&) override {}  // the kernel serves the queues
    void reset() override;

    bool external_data_plane() const override { return true; }
    void start_external(memory::GuestMemory& memory,
                        std::span<const ExternalQueue> queues) override;
    void stop_external() override;

private:
    void set_backend(std::uint16_t index, int fd) const;

    UniqueFd vhost_;
    std::unique_ptr<VhostTap> tap_;
    MacAddress mac_;
    std::string name_;
    std::uint64_t kernel_features_ = 0;
    const std::uint64_t offloads_;
    std::uint64_t negotiated_ = 0;
    // The queues the kernel serves now, and where each ring stopped (its next available
    // index, VHOST_GET_VRING_BASE), for a start without a reset in between.
    std::vector<std::uint16_t> running_;
    std::array<std::uint16_t, 2> base_{};
};

}  // namespace berth::devices::virtio
