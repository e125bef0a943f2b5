#include "vmm/net/dhcp_server.hpp"

#include <algorithm>

namespace berth::net {

namespace {

// Byte offsets, from RFC 791 (IPv4), RFC 768 (UDP) and RFC 2131 section 2 (the BOOTP
// message a DHCP message is).
constexpr std::size_t ethernet_header = 14;
constexpr std::size_t ipv4_header = 20;  // ours; the client's may carry options
constexpr std::size_t udp_header = 8;
constexpr std::uint16_t ethertype_ipv4 = 0x0800;
constexpr std::uint8_t protocol_udp = 17;
constexpr std::uint16_t server_port = 67;
constexpr std::uint16_t client_port = 68;

constexpr std::size_t bootp_op = 0;
constexpr std::size_t bootp_htype = 1;
constexpr std::size_t bootp_hlen = 2;
constexpr std::size_t bootp_xid = 4;
constexpr std::size_t bootp_flags = 10;
constexpr std::size_t bootp_ciaddr = 12;
constexpr std::size_t bootp_yiaddr = 16;
constexpr std::size_t bootp_giaddr = 24;
constexpr std::size_t bootp_chaddr = 28;
constexpr std::size_t bootp_cookie = 236;
constexpr std::size_t bootp_options = 240;
constexpr std::size_t bootp_minimum = 300;  // RFC 1542: some clients drop shorter replies
constexpr std::uint32_t magic_cookie = 0x63825363;
constexpr std::uint16_t flag_broadcast = 0x8000;

constexpr std::uint8_t op_request = 1;
constexpr std::uint8_t op_reply = 2;
constexpr std::uint8_t htype_ethernet = 1;

// Options (RFC 2132).
constexpr std::uint8_t option_pad = 0;
constexpr std::uint8_t option_subnet_mask = 1;
constexpr std::uint8_t option_router = 3;
constexpr std::uint8_t option_requested_address = 50;
constexpr std::uint8_t option_lease_time = 51;
constexpr std::uint8_t option_message_type = 53;
constexpr std::uint8_t option_server_identifier = 54;
constexpr std::uint8_t option_end = 255;

constexpr std::uint8_t message_discover = 1;
constexpr std::uint8_t message_offer = 2;
constexpr std::uint8_t message_request = 3;
constexpr std::uint8_t message_ack = 5;
constexpr std::uint8_t message_nak = 6;

// The server's own Ethernet address as the guest sees it in replies: a locally
// administered one of berth's (the bridge's real one is the kernel's to choose).
constexpr EthernetAddress server_ethernet{0x52, 0x54, 0x00, 0xbe, 0x27, 0xfe};

std::uint16_t read16(std::span<const std::uint8_t> bytes, std::size_t at) {
    return static_cast<std::uint16_t>(bytes[at] << 8 | bytes[at + 1]);
}

std::uint32_t read32(std::span<const std::uint8_t> bytes, std::size_t at) {
    return static_cast<std::uint32_t>(bytes[at]) << 24 |
           static_cast<std::uint32_t>(bytes[at + 1]) << 16 |
           static_cast<std::uint32_t>(bytes[at + 2]) << 8 | bytes[at + 3];
}

void write16(std::vector<std::uint8_t>& bytes, std::size_t at, std::uint16_t value) {
    bytes[at] = static_cast<std::uint8_t>(value >> 8);
    bytes[at + 1] = static_cast<std::uint8_t>(value);
}

void write32(std::vector<std::uint8_t>& bytes, std::size_t at, std::uint32_t value) {
    write16(bytes, at, static_cast<std::uint16_t>(value >> 16));
    write16(bytes, at + 2, static_cast<std::uint16_t>(value));
}

// The options a request carries that decide the answer.
struct RequestOptions {
    std::optional<std::uint8_t> message_type;
    std::optional<std::uint32_t> requested_address;
    std::optional<std::uint32_t> server;
};

// Walks the options field; a malformed one (running past the end) ends the walk, and
// what was read before it stands, as a tolerant client-side parser would do.
RequestOptions read_options(std::span<const std::uint8_t> options) {
    RequestOptions found;
    std::size_t at = 0;
    while (at < options.size()) {
        const std::uint8_t code = options[at];
        if (code == option_end) {
            break;
        }
        if (code == option_pad) {
            ++at;
            continue;
        }
        if (at + 1 >= options.size() || at + 2 + options[at + 1] > options.size()) {
            break;
        }
        const std::uint8_t length = options[at + 1];
        const auto value = options.subspan(at + 2, length);
        if (code == option_message_type && length == 1) {
            found.message_type = value[0];
        } else if (code == option_requested_address && length == 4) {
            found.requested_address = read32(value, 0);
        } else if (code == option_server_identifier && length == 4) {
            found.server = read32(value, 0);
        }
        at += 2 + length;
    }
    return found;
}

// The ones-complement sum of RFC 1071 over `bytes`, folded.
std::uint16_t internet_checksum(std::span<const std::uint8_t> bytes) {
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i + 1 < bytes.size(); i += 2) {
        sum += read16(bytes, i);
    }
    if (bytes.size() % 2 != 0) {
        sum += static_cast<std::uint32_t>(bytes.back()) << 8;
    }
    while (sum >> 16 != 0) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return static_cast<std::uint16_t>(~sum);
}

std::vector<std::uint8_t> reply_frame(std::span<const std::uint8_t> request, std::uint8_t type,
                                      const DhcpOffer& offer) {
    std::vector<std::uint8_t> options;
    const auto add = [&](std::uint8_t code, std::initializer_list<std::uint8_t> value) {
        options.push_back(code);
        options.push_back(static_cast<std::uint8_t>(value.size()));
        options.insert(options.end(), value);
    };
    const auto add32 = [&](std::uint8_t code, std::uint32_t value) {
        add(code, {static_cast<std::uint8_t>(value >> 24), static_cast<std::uint8_t>(value >> 16),
                   static_cast<std::uint8_t>(value >> 8), static_cast<std::uint8_t>(value)});
    };
    add(option_message_type, {type});
    add32(option_server_identifier, offer.server);
    if (type != message_nak) {
        add32(option_lease_time, offer.lease_seconds);
        add32(option_subnet_mask, offer.address.netmask());
        add32(option_router, offer.router);
    }
    options.push_back(option_end);

    const std::size_t bootp_size = std::max(bootp_options + options.size(), bootp_minimum);
    const std::size_t udp_size = udp_header + bootp_size;
    const std::size_t ip_size = ipv4_header + udp_size;
    std::vector<std::uint8_t> frame(ethernet_header + ip_size, 0);

    // BOOTP: the request's transaction, flags, relay and hardware address come back.
    const std::size_t bootp = ethernet_header + ipv4_header + udp_header;
    frame[bootp + bootp_op] = op_reply;
    frame[bootp + bootp_htype] = htype_ethernet;
    frame[bootp + bootp_hlen] = 6;
    std::copy_n(request.begin() + bootp_xid, 4, frame.begin() + bootp + bootp_xid);
    std::copy_n(request.begin() + bootp_flags, 2, frame.begin() + bootp + bootp_flags);
    std::copy_n(request.begin() + bootp_giaddr, 4, frame.begin() + bootp + bootp_giaddr);
    std::copy_n(request.begin() + bootp_chaddr, 16, frame.begin() + bootp + bootp_chaddr);
    if (type != message_nak) {
        write32(frame, bootp + bootp_yiaddr, offer.address.address);
    }
    write32(frame, bootp + bootp_cookie, magic_cookie);
    std::copy(options.begin(), options.end(), frame.begin() + bootp + bootp_options);

    // To the client's hardware address, and to its new IP address unless it asked for
    // broadcast replies (or is refused one).
    const bool broadcast =
        (read16(request, bootp_flags) & flag_broadcast) != 0 || type == message_nak;
    if (broadcast) {
        std::fill_n(frame.begin(), 6, 0xff);
    } else {
        std::copy(offer.client.begin(), offer.client.end(), frame.begin());
    }
    std::copy(server_ethernet.begin(), server_ethernet.end(), frame.begin() + 6);
    write16(frame, 12, ethertype_ipv4);

    const std::size_t ip = ethernet_header;
    frame[ip] = 0x45;  // version 4, 5 words of header
    write16(frame, ip + 2, static_cast<std::uint16_t>(ip_size));
    frame[ip + 8] = 64;  // time to live
    frame[ip + 9] = protocol_udp;
    write32(frame, ip + 12, offer.server);
    write32(frame, ip + 16, broadcast ? 0xffffffff : offer.address.address);
    write16(frame, ip + 10, internet_checksum(std::span(frame).subspan(ip, ipv4_header)));

    const std::size_t udp = ip + ipv4_header;
    write16(frame, udp, server_port);
    write16(frame, udp + 2, client_port);
    write16(frame, udp + 4, static_cast<std::uint16_t>(udp_size));
    // The UDP checksum stays 0, "none" in IPv4 (RFC 768): the frame never leaves
    // berth's process, so there is no wire for it to protect against.
    return frame;
}

}  // namespace

std::optional<std::vector<std::uint8_t>> answer_dhcp(std::span<const std::uint8_t> frame,
                                                     const DhcpOffer& offer) {
    if (frame.size() < ethernet_header + ipv4_header || read16(frame, 12) != ethertype_ipv4) {
        return std::nullopt;
    }
    const auto ip = frame.subspan(ethernet_header);
    const std::size_t ip_header = (ip[0] & 0x0f) * std::size_t{4};
    if (ip[0] >> 4 != 4 || ip_header < ipv4_header || ip[9] != protocol_udp) {
        return std::nullopt;
    }
    const std::size_t ip_size = std::min<std::size_t>(read16(ip, 2), ip.size());
    if (ip_size < ip_header + udp_header) {
        return std::nullopt;
    }
    const auto udp = ip.subspan(ip_header, ip_size - ip_header);
    if (read16(udp, 2) != server_port) {
        return std::nullopt;
    }
    const std::size_t udp_size = std::min<std::size_t>(read16(udp, 4), udp.size());
    if (udp_size < udp_header + bootp_options) {
        return std::nullopt;
    }
    const auto bootp = udp.subspan(udp_header, udp_size - udp_header);
    if (bootp[bootp_op] != op_request || bootp[bootp_htype] != htype_ethernet ||
        bootp[bootp_hlen] != 6 || read32(bootp, bootp_cookie) != magic_cookie ||
        !std::equal(offer.client.begin(), offer.client.end(), bootp.begin() + bootp_chaddr)) {
        return std::nullopt;
    }
    const RequestOptions options = read_options(bootp.subspan(bootp_options));
    if (options.message_type == message_discover) {
        return reply_frame(bootp, message_offer, offer);
    }
    if (options.message_type != message_request ||
        (options.server && *options.server != offer.server)) {
        return std::nullopt;
    }
    // SELECTING and INIT-REBOOT name the address in option 50; RENEWING and REBINDING
    // in ciaddr.
    const std::uint32_t wanted = options.requested_address.value_or(read32(bootp, bootp_ciaddr));
    return reply_frame(bootp, wanted == offer.address.address ? message_ack : message_nak, offer);
}

}  // namespace berth::net
