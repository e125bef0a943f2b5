#include "devices/virtio/vhost_net.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "devices/virtio/vhost_abi.hpp"
#include "vmm/common/error.hpp"

namespace berth::devices::virtio {

namespace {

// The queue's rings in this process's address space, each checked to lie inside RAM (a
// hostile driver's addresses fail the start, and the device needs a reset).
vhost_vring_addr ring_addresses(memory::GuestMemory& memory, const ExternalQueue& queue) {
    const std::uint64_t size = queue.layout.size;
    const auto host = [&](std::uint64_t address, std::uint64_t length) {
        return reinterpret_cast<std::uint64_t>(memory.span(address, length).data());
    };
    vhost_vring_addr addr{};
    addr.index = queue.index;
    addr.desc_user_addr = host(queue.layout.descriptors, 16 * size);
    addr.avail_user_addr = host(queue.layout.driver_area, 6 + 2 * size);
    addr.used_user_addr = host(queue.layout.device_area, 6 + 8 * size);
    return addr;
}

}  // namespace

std::uint64_t vhost_ring_features(std::uint64_t kernel) {
    return kernel & ring_features & ~feature_ring_reset;
}

std::uint64_t vhost_acked_features(std::uint64_t driver, std::uint64_t kernel) {
    return driver & kernel & (vhost_ring_features(kernel) | net_feature_mrg_rxbuf);
}

std::vector<std::uint64_t> vhost_memory_table(std::span<const memory::RamRegion> regions) {
    static_assert(sizeof(vhost_memory) == 8 && sizeof(vhost_memory_region) == 32);
    std::vector<std::uint64_t> table{regions.size()};  // nregions, then padding (0)
    for (const auto& region : regions) {
        table.push_back(region.guest_address);
        table.push_back(region.size());
        table.push_back(reinterpret_cast<std::uint64_t>(region.mapping.data()));
        table.push_back(0);
    }
    return table;
}

UniqueFd VhostNet::open_device() {
    UniqueFd fd(::open("/dev/vhost-net", O_RDWR | O_CLOEXEC));
    if (!fd) {
        const int err = errno;
        const char* fix = err == ENOENT ? "load the vhost_net module (modprobe vhost_net)"
                          : err == EACCES || err == EPERM
                              ? "run as root or give this user read-write access to /dev/vhost-net"
                              : "check the host's vhost-net";
        throw bad_input(
            fmt::format("vhost=on: cannot open /dev/vhost-net: {}; {}, or drop vhost=on",
                        std::strerror(err), fix));
    }
    return fd;
}

VhostNet::VhostNet(UniqueFd vhost, std::unique_ptr<VhostTap> tap, MacAddress mac, std::string name)
    : vhost_(std::move(vhost)),
      tap_(std::move(tap)),
      mac_(mac),
      name_(std::move(name)),
      offloads_(tap_->offloads() & net_offload_features) {
    if (::ioctl(vhost_.get(), VHOST_SET_OWNER) < 0) {
        throw_errno("vhost=on: VHOST_SET_OWNER failed", errno);
    }
    if (::ioctl(vhost_.get(), VHOST_GET_FEATURES, &kernel_features_) < 0) {
        throw_errno("vhost=on: VHOST_GET_FEATURES failed", errno);
    }
    if ((kernel_features_ & feature_version_1) == 0) {
        throw bad_input(
            "vhost=on: this kernel's vhost-net lacks VIRTIO_F_VERSION_1; drop vhost=on");
    }
}

VhostNet::~VhostNet() {
    stop_external();
}

std::uint64_t VhostNet::features() const {
    return net_feature_mac | net_feature_status | net_feature_mtu |
           (kernel_features_ & net_feature_mrg_rxbuf) | offloads_;
}

std::uint64_t VhostNet::supported_ring_features() const {
    return vhost_ring_features(kernel_features_);
}

void VhostNet::read_config(std::uint32_t offset, std::span<std::uint8_t> data) const {
    // mac[6], status, max_virtqueue_pairs, mtu: the same structure as the model's.
    std::array<std::uint8_t, 12> config{};
    std::copy(mac_.begin(), mac_.end(), config.begin());
    config[6] = net_status_link_up;
    config[8] = 1;
    config[10] = Net::mtu & 0xff;
    config[11] = Net::mtu >> 8;
    for (std::size_t i = 0; i < data.size(); ++i) {
        data[i] = offset + i < config.size() ? config[offset + i] : 0;
    }
}

void VhostNet::negotiated(std::uint64_t features) {
    negotiated_ = features;
    if (offloads_ != 0) {
        tap_->enable_offloads(features & offloads_);
    }
}

void VhostNet::reset() {
    stop_external();
    base_ = {};
    negotiated_ = 0;
    if (offloads_ != 0) {
        tap_->enable_offloads(0);
    }
}

void VhostNet::start_external(memory::GuestMemory& memory, std::span<const ExternalQueue> queues) {
    stop_external();
    const int fd = vhost_.get();
    std::uint64_t acked = vhost_acked_features(negotiated_, kernel_features_);
    if (::ioctl(fd, VHOST_SET_FEATURES, &acked) < 0) {
        throw_errno("vhost-net refused the features", errno);
    }
    std::vector<std::uint64_t> table = vhost_memory_table(memory.regions());
    if (::ioctl(fd, VHOST_SET_MEM_TABLE, table.data()) < 0) {
        throw_errno("vhost-net refused the memory map", errno);
    }
    for (const ExternalQueue& queue : queues) {
        if (queue.index >= base_.size()) {
            continue;
        }
        const auto fail = [&](const char* what) {
            const int err = errno;
            return Error(errno_message(fmt::format("queue {}: {}", queue.index, what), err));
        };
        vhost_vring_state num{queue.index, queue.layout.size};
        if (::ioctl(fd, VHOST_SET_VRING_NUM, &num) < 0) {
            throw fail("vhost-net refused the ring size");
        }
        vhost_vring_state base{queue.index, base_[queue.index]};
        if (::ioctl(fd, VHOST_SET_VRING_BASE, &base) < 0) {
            throw fail("vhost-net refused the ring's start");
        }
        vhost_vring_addr addr = ring_addresses(memory, queue);
        if (::ioctl(fd, VHOST_SET_VRING_ADDR, &addr) < 0) {
            throw fail("vhost-net refused the ring's addresses");
        }
        vhost_vring_file kick{queue.index, queue.kick_fd};
        if (::ioctl(fd, VHOST_SET_VRING_KICK, &kick) < 0) {
            throw fail("vhost-net refused the doorbell");
        }
        vhost_vring_file call{queue.index, queue.call_fd};
        if (::ioctl(fd, VHOST_SET_VRING_CALL, &call) < 0) {
            throw fail("vhost-net refused the interrupt");
        }
        set_backend(queue.index, tap_->fd());
        running_.push_back(queue.index);
    }
}

void VhostNet::stop_external() {
    for (const std::uint16_t index : running_) {
        set_backend(index, -1);
        // Stops the ring and says where it stopped.
        vhost_vring_state base{index, 0};
        if (::ioctl(vhost_.get(), VHOST_GET_VRING_BASE, &base) == 0) {
            base_[index] = static_cast<std::uint16_t>(base.num);
        }
    }
    running_.clear();
}

void VhostNet::set_backend(std::uint16_t index, int fd) const {
    vhost_vring_file backend{index, fd};
    if (::ioctl(vhost_.get(), VHOST_NET_SET_BACKEND, &backend) < 0 && fd >= 0) {
        const int err = errno;
        throw Error(errno_message(fmt::format("queue {}: vhost-net refused the tap", index), err));
    }
}

}  // namespace berth::devices::virtio
