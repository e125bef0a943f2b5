#pragma once
// A published port, as `berth vm run --publish` takes it (docker -p's form):
// [HOSTIP:]HOSTPORT:GUESTPORT[/udp|/tcp]. Without HOSTIP it listens on every host
// address (0.0.0.0), as docker does.

#include <cstdint>
#include <string>

namespace berth::net {

enum class Protocol { tcp, udp };

struct PortForward {
    Protocol protocol = Protocol::tcp;
    std::uint32_t host_address = 0;  // host byte order; 0: every address
    std::uint16_t host_port = 0;
    std::uint16_t guest_port = 0;

    // Bad text throws a bad-input Error saying what is wrong and the form to use (the
    // caller names the flag).
    static PortForward parse(const std::string& text);
    std::string text() const;  // "127.0.0.1:8080:80/tcp"
};

}  // namespace berth::net
