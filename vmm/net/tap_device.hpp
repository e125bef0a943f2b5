#pragma once
// A tap interface: Ethernet frames between this process and the host kernel's network
// stack, one read(2) or write(2) per frame, each behind a 12-byte virtio_net_hdr_v1 (the
// kernel's "vnet header"), so that checksums and TCP segmentation can be left to the
// host: the guest's NIC passes its header straight through (devices/virtio/net.hpp). It is not
// persistent, so the kernel deletes the interface when the descriptor closes: on every way berth
// can exit, kill -9 included, nothing is left behind.

#include <string>

#include "vmm/common/unique_fd.hpp"

namespace berth::net {

class TapDevice {
public:
    // Creates tap `name` (at most 15 characters), non-blocking. Without /dev/net/tun or
    // the privilege to create interfaces: a bad-input Error that says so.
    static TapDevice create(const std::string& name);

    // The size of the header before every frame, both ways.
    static constexpr std::size_t vnet_header_size = 12;

    int fd() const { return fd_.get(); }
    const std::string& name() const { return name_; }
    // What the host kernel can take from us and hand us (TUN_F_CSUM, TUN_F_TSO4,
    // TUN_F_TSO6), probed at creation; older kernels refuse some.
    unsigned offloads() const { return offloads_; }
    // The offloaded frames (TUN_F_* bits) the kernel may hand us from now on: none
    // until the guest's driver said which it takes. Failure is an Error.
    void set_offloads(unsigned flags) const;

private:
    UniqueFd fd_;
    std::string name_;
    unsigned offloads_ = 0;
};

}  // namespace berth::net
