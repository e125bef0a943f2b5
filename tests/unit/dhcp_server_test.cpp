// berth's DHCP server for a VM on berth0 (vmm/net/dhcp_server): the frames a Linux
// client sends (built here as RFC 2131 lays them out) get the answers the RFC asks for,
// and anything else, malformed or not ours, gets none.

#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <vector>

#include "vmm/net/dhcp_server.hpp"

using berth::net::answer_dhcp;
using berth::net::DhcpOffer;
using Bytes = std::vector<std::uint8_t>;

namespace {

const DhcpOffer offer{
    {0x52, 0x54, 0x0a, 0x58, 0x12, 0x34}, {0x0a581234, 16}, 0x0a580001, 0x0a580001, 3600};

void put16(Bytes& b, std::size_t at, std::uint32_t v) {
    b[at] = static_cast<std::uint8_t>(v >> 8);
    b[at + 1] = static_cast<std::uint8_t>(v);
}
void put32(Bytes& b, std::size_t at, std::uint32_t v) {
    put16(b, at, v >> 16);
    put16(b, at + 2, v & 0xffff);
}
std::uint32_t get16(const Bytes& b, std::size_t at) {
    return b.at(at) << 8 | b.at(at + 1);
}
std::uint32_t get32(const Bytes& b, std::size_t at) {
    return get16(b, at) << 16 | get16(b, at + 2);
}

// A client's broadcast DHCP message with `options` (the end option added).
Bytes client_message(std::uint8_t type, Bytes options = {},
                     berth::net::EthernetAddress mac = offer.client, std::uint16_t flags = 0) {
    Bytes bootp(300, 0);
    bootp[0] = 1;
    bootp[1] = 1;
    bootp[2] = 6;
    put32(bootp, 4, 0xdeadbeef);
    put16(bootp, 10, flags);
    std::copy(mac.begin(), mac.end(), bootp.begin() + 28);
    put32(bootp, 236, 0x63825363);
    Bytes all{53, 1, type};
    all.insert(all.end(), options.begin(), options.end());
    all.push_back(255);
    std::copy(all.begin(), all.end(), bootp.begin() + 240);

    Bytes frame(14 + 20 + 8, 0);
    std::fill_n(frame.begin(), 6, 0xff);
    std::copy(mac.begin(), mac.end(), frame.begin() + 6);
    put16(frame, 12, 0x0800);
    frame[14] = 0x45;
    put16(frame, 16, 20 + 8 + bootp.size());
    frame[14 + 9] = 17;
    put32(frame, 14 + 16, 0xffffffff);
    put16(frame, 34, 68);
    put16(frame, 36, 67);
    put16(frame, 38, 8 + bootp.size());
    frame.insert(frame.end(), bootp.begin(), bootp.end());
    return frame;
}

// The reply's DHCP options as code -> value.
std::optional<Bytes> option(const Bytes& reply, std::uint8_t code) {
    for (std::size_t at = 14 + 20 + 8 + 240; at + 1 < reply.size() && reply[at] != 255;
         at += 2 + reply[at + 1]) {
        if (reply[at] == code) {
            return Bytes(reply.begin() + at + 2, reply.begin() + at + 2 + reply[at + 1]);
        }
    }
    return std::nullopt;
}

// The IPv4 header's ones-complement sum including its checksum field: 0xffff when valid.
std::uint32_t header_sum(const Bytes& reply) {
    std::uint32_t sum = 0;
    for (std::size_t i = 14; i < 34; i += 2) {
        sum += get16(reply, i);
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return sum;
}

}  // namespace

TEST_CASE("a DHCPDISCOVER from the guest gets an OFFER of its leased address") {
    const auto reply = answer_dhcp(client_message(1), offer);
    REQUIRE(reply);
    const Bytes& r = *reply;
    CHECK(get16(r, 12) == 0x0800);
    CHECK(Bytes(r.begin(), r.begin() + 6) == Bytes(offer.client.begin(), offer.client.end()));
    CHECK(header_sum(r) == 0xffff);
    CHECK(r[14 + 9] == 17);
    CHECK(get32(r, 14 + 12) == 0x0a580001);  // from the server
    CHECK(get32(r, 14 + 16) == 0x0a581234);  // to the new address (no broadcast flag)
    CHECK(get16(r, 34) == 67);
    CHECK(get16(r, 36) == 68);
    CHECK(get16(r, 38) == r.size() - 34);
    const std::size_t bootp = 42;
    CHECK(r[bootp] == 2);
    CHECK(get32(r, bootp + 4) == 0xdeadbeef);
    CHECK(get32(r, bootp + 16) == 0x0a581234);
    CHECK(get32(r, bootp + 236) == 0x63825363);
    CHECK(r.size() - bootp >= 300);
    CHECK(option(r, 53) == Bytes{2});
    CHECK(option(r, 54) == Bytes{10, 88, 0, 1});
    CHECK(option(r, 1) == Bytes{255, 255, 0, 0});
    CHECK(option(r, 3) == Bytes{10, 88, 0, 1});
    CHECK(option(r, 51) == Bytes{0, 0, 0x0e, 0x10});
}

TEST_CASE("a DHCPREQUEST for the offered address is ACKed, for another one NAKed") {
    const auto ack =
        answer_dhcp(client_message(3, {50, 4, 10, 88, 0x12, 0x34, 54, 4, 10, 88, 0, 1}), offer);
    REQUIRE(ack);
    CHECK(option(*ack, 53) == Bytes{5});
    CHECK(get32(*ack, 42 + 16) == 0x0a581234);

    const auto nak = answer_dhcp(client_message(3, {50, 4, 10, 88, 9, 9}), offer);
    REQUIRE(nak);
    CHECK(option(*nak, 53) == Bytes{6});
    CHECK(get32(*nak, 42 + 16) == 0);                                // no address in a NAK
    CHECK(Bytes(nak->begin(), nak->begin() + 6) == Bytes(6, 0xff));  // broadcast
    CHECK(!option(*nak, 51));
}

TEST_CASE("a renewal names its address in ciaddr") {
    Bytes renew = client_message(3);
    put32(renew, 42 + 12, 0x0a581234);
    const auto ack = answer_dhcp(renew, offer);
    REQUIRE(ack);
    CHECK(option(*ack, 53) == Bytes{5});
}

TEST_CASE("a client asking for broadcast replies gets them") {
    const auto reply = answer_dhcp(client_message(1, {}, offer.client, 0x8000), offer);
    REQUIRE(reply);
    CHECK(Bytes(reply->begin(), reply->begin() + 6) == Bytes(6, 0xff));
    CHECK(get32(*reply, 14 + 16) == 0xffffffff);
}

TEST_CASE("frames that are not DHCP for this server get no answer") {
    CHECK(!answer_dhcp(client_message(3, {54, 4, 10, 88, 0, 2}), offer));   // another server chosen
    CHECK(!answer_dhcp(client_message(7), offer));                          // RELEASE
    CHECK(!answer_dhcp(client_message(4), offer));                          // DECLINE
    CHECK(!answer_dhcp(client_message(1, {}, {2, 0, 0, 0, 0, 1}), offer));  // another NIC
    Bytes not_udp = client_message(1);
    not_udp[14 + 9] = 6;
    CHECK(!answer_dhcp(not_udp, offer));
    Bytes not_to_server = client_message(1);
    put16(not_to_server, 36, 53);
    CHECK(!answer_dhcp(not_to_server, offer));
    Bytes no_cookie = client_message(1);
    no_cookie[42 + 236] = 0;
    CHECK(!answer_dhcp(no_cookie, offer));
    Bytes no_type = client_message(1);
    no_type[42 + 240] = 0;  // the message-type option becomes pads
    no_type[42 + 241] = 0;
    no_type[42 + 242] = 0;
    CHECK(!answer_dhcp(no_type, offer));
}

TEST_CASE("truncated and lying frames are read within their bytes") {
    const Bytes whole = client_message(1, {50, 4, 10, 88, 0x12, 0x34});
    for (std::size_t size = 0; size < whole.size(); ++size) {
        const Bytes cut(whole.begin(), whole.begin() + size);
        CHECK_NOTHROW(answer_dhcp(cut, offer));  // ASan (build-asan) checks every read
    }
    Bytes lying = whole;
    put16(lying, 16, 0xffff);  // IP and UDP lengths far past the frame
    put16(lying, 38, 0xffff);
    CHECK_NOTHROW(answer_dhcp(lying, offer));
    Bytes long_option = whole;
    long_option[42 + 243] = 50;
    long_option[42 + 244] = 250;  // runs past the end
    CHECK_NOTHROW(answer_dhcp(long_option, offer));
}
