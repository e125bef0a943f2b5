#pragma once
// A tap interface: Ethernet frames between this process and the host kernel's network
// stack, one read(2) or write(2) per frame. It is not persistent, so the kernel deletes
// the interface when the descriptor closes: on every way berth can exit, kill -9
// included, nothing is left behind.

#include <string>

#include "vmm/common/unique_fd.hpp"

namespace berth::net {

class TapDevice {
public:
    // Creates tap `name` (at most 15 characters), non-blocking. Without /dev/net/tun or
    // the privilege to create interfaces: a bad-input Error that says so.
    static TapDevice create(const std::string& name);

    int fd() const { return fd_.get(); }
    const std::string& name() const { return name_; }

private:
    UniqueFd fd_;
    std::string name_;
};

}  // namespace berth::net
