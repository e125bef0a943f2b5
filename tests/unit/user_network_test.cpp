#include <catch2/catch.hpp>

#include <poll.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <span>
#include <vector>

#include "vmm/common/error.hpp"
#include "vmm/net/port_forward.hpp"
#include "vmm/net/user_network.hpp"

using namespace berth::net;

namespace {

std::string message_of(const std::string& text) {
    try {
        PortForward::parse(text);
    } catch (const berth::Error& e) {
        CHECK(e.status() == berth::ExitStatus::bad_input);
        return e.what();
    }
    return "(accepted)";
}

constexpr std::uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0xbe, 0x27, 0x00};

void put16(std::vector<std::uint8_t>& frame, std::size_t at, std::uint16_t value) {
    frame[at] = static_cast<std::uint8_t>(value >> 8);
    frame[at + 1] = static_cast<std::uint8_t>(value);
}
std::uint16_t get16(std::span<const std::uint8_t> frame, std::size_t at) {
    return static_cast<std::uint16_t>(frame[at] << 8 | frame[at + 1]);
}

// An Ethernet broadcast frame from the guest's MAC with `type`, `payload` bytes long.
std::vector<std::uint8_t> ethernet(std::uint16_t type, std::size_t payload) {
    std::vector<std::uint8_t> frame(14 + payload, 0);
    std::memset(frame.data(), 0xff, 6);
    std::memcpy(frame.data() + 6, guest_mac, 6);
    put16(frame, 12, type);
    return frame;
}

// A DHCPDISCOVER as a client without an address sends it (RFC 2131): UDP 68 -> 67 from
// 0.0.0.0 to 255.255.255.255, no UDP checksum.
std::vector<std::uint8_t> dhcp_discover() {
    constexpr std::size_t bootp = 240 + 4;  // fixed part, magic cookie, options
    auto frame = ethernet(0x0800, 20 + 8 + bootp);
    std::uint8_t* ip = frame.data() + 14;
    ip[0] = 0x45;
    put16(frame, 14 + 2, 20 + 8 + bootp);
    ip[8] = 64;
    ip[9] = 17;  // UDP
    std::memset(ip + 16, 0xff, 4);
    std::uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2) {
        sum += static_cast<std::uint32_t>(ip[i] << 8 | ip[i + 1]);
    }
    sum = (sum & 0xffff) + (sum >> 16);
    put16(frame, 14 + 10, static_cast<std::uint16_t>(~sum));
    put16(frame, 34, 68);
    put16(frame, 36, 67);
    put16(frame, 38, 8 + bootp);
    std::uint8_t* b = frame.data() + 42;
    b[0] = 1;  // BOOTREQUEST
    b[1] = 1;  // Ethernet
    b[2] = 6;
    b[4] = 0x12;  // xid
    b[5] = 0x34;
    b[10] = 0x80;  // broadcast
    std::memcpy(b + 28, guest_mac, 6);
    const std::uint8_t options[] = {99, 130, 83, 99, 53, 1, 1, 255};
    std::memcpy(b + 236, options, sizeof options);
    return frame;
}

// Frames the network hands the guest, collected while this test runs its poll loop as
// the NIC's worker would.
struct Collector {
    std::vector<std::vector<std::uint8_t>> frames;

    void operator()(std::span<const std::uint8_t> frame) {
        frames.emplace_back(frame.begin(), frame.end());
    }
    // The first frame matching `want`, serving `network` for up to five seconds.
    template <typename Want>
    std::vector<std::uint8_t> wait_for(UserNetwork& network, Want want) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (std::chrono::steady_clock::now() < deadline) {
            for (const auto& frame : frames) {
                if (want(frame)) {
                    return frame;
                }
            }
            std::vector<pollfd> fds;
            int timeout_ms = 100;
            network.add_waits(fds, timeout_ms);
            if (::poll(fds.data(), fds.size(), std::min(timeout_ms, 100)) >= 0) {
                network.waited(fds);
            }
        }
        return {};
    }
};

}  // namespace

TEST_CASE("--publish values parse as docker -p's", "[net][publish]") {
    const auto plain = PortForward::parse("8080:80");
    CHECK(plain.host_address == 0);
    CHECK(plain.host_port == 8080);
    CHECK(plain.guest_port == 80);
    CHECK(plain.protocol == Protocol::tcp);
    const auto full = PortForward::parse("127.0.0.1:5353:53/udp");
    CHECK(full.host_address == 0x7f000001);
    CHECK(full.protocol == Protocol::udp);
    CHECK(full.text() == "127.0.0.1:5353:53/udp");
    CHECK(PortForward::parse("1:65535/tcp").guest_port == 65535);

    CHECK(message_of("8080") ==
          "'8080' names one port, not two; give [HOSTIP:]HOSTPORT:GUESTPORT[/udp], e.g. 8080:80");
    CHECK_THAT(message_of("0:80"), Catch::StartsWith("host port 0 is out of range 1-65535"));
    CHECK_THAT(message_of("80:65536"), Catch::StartsWith("guest port 65536 is out of range"));
    CHECK_THAT(message_of("99999999999999999999999:80"),
               Catch::StartsWith("host port '99999999999999999999999' is not a number"));
    CHECK_THAT(message_of("-1:80"), Catch::StartsWith("host port '-1' is not a number"));
    CHECK_THAT(message_of(":80"), Catch::StartsWith("host port '' is not a number"));
    CHECK_THAT(message_of("::1:80:80"), Catch::StartsWith("host address '::1' is not an IPv4"));
    CHECK_THAT(message_of("80:80/icmp"), Catch::StartsWith("unknown protocol 'icmp'"));
    CHECK_THAT(message_of("80:8\n0"), Catch::StartsWith("guest port '8\\n0' is not a number"));
}

TEST_CASE("the user-mode network answers ARP and DHCP like QEMU's", "[net][slirp]") {
    Collector collector;
    UserNetwork network(UserNetworkConfig{});
    network.start([&](std::span<const std::uint8_t> frame) { collector(frame); });

    // Who has 10.0.2.2 (the gateway, the host)?
    auto arp = ethernet(0x0806, 28);
    const std::uint8_t request[] = {0, 1, 8, 0, 6, 4, 0, 1};
    std::memcpy(arp.data() + 14, request, sizeof request);
    std::memcpy(arp.data() + 22, guest_mac, 6);
    const std::uint8_t addresses[] = {10, 0, 2, 15, 0, 0, 0, 0, 0, 0, 10, 0, 2, 2};
    std::memcpy(arp.data() + 28, addresses, sizeof addresses);
    network.send(arp);
    const auto reply = collector.wait_for(network, [](const auto& frame) {
        return frame.size() >= 42 && get16(frame, 12) == 0x0806 && get16(frame, 20) == 2;
    });
    REQUIRE(!reply.empty());
    CHECK(std::memcmp(reply.data(), guest_mac, 6) == 0);
    const std::uint8_t gateway[] = {10, 0, 2, 2};
    CHECK(std::memcmp(reply.data() + 28, gateway, 4) == 0);

    network.send(dhcp_discover());
    const auto offer = collector.wait_for(network, [](const auto& frame) {
        return frame.size() >= 42 + 240 && get16(frame, 12) == 0x0800 && frame[23] == 17 &&
               get16(frame, 34) == 67 && get16(frame, 36) == 68;
    });
    REQUIRE(!offer.empty());
    const std::uint8_t* bootp = offer.data() + 42;
    CHECK(bootp[0] == 2);  // BOOTREPLY
    const std::uint8_t address[] = {10, 0, 2, 15};
    CHECK(std::memcmp(bootp + 16, address, 4) == 0);  // yiaddr
    // Options after the magic cookie: message type OFFER (2), router 10.0.2.2, DNS 10.0.2.3.
    bool offered = false, router = false, dns = false;
    for (std::size_t at = 240; at + 2 <= offer.size() - 42 && bootp[at] != 255;) {
        const std::uint8_t code = bootp[at];
        if (code == 0) {
            ++at;
            continue;
        }
        const std::uint8_t length = bootp[at + 1];
        const std::uint8_t* value = bootp + at + 2;
        offered = offered || (code == 53 && value[0] == 2);
        router = router || (code == 3 && length >= 4 && value[3] == 2 && value[0] == 10);
        dns = dns || (code == 6 && length >= 4 && value[3] == 3 && value[0] == 10);
        at += 2 + length;
    }
    CHECK(offered);
    CHECK(router);
    CHECK(dns);
}
