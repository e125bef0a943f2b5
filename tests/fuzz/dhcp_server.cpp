// Fuzz harness: berth's DHCP server for a VM on berth0 (vmm/net/dhcp_server) reads each
// Ethernet frame the guest sends. Any bytes get an answer or none; a read outside the
// frame, a crash or a hang is a bug. An answer is always a whole frame: a reply
// shorter than its headers would be one too.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "vmm/net/dhcp_server.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const berth::net::DhcpOffer offer{
        {0x52, 0x54, 0x0a, 0x58, 0x12, 0x34}, {0x0a581234, 16}, 0x0a580001, 0x0a580001, 3600};
    const auto reply = berth::net::answer_dhcp(std::span(data, size), offer);
    if (reply && reply->size() < 14 + 20 + 8 + 300) {
        std::abort();
    }
    return 0;
}
