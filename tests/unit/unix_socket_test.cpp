// Unix socket messages and descriptor passing (common/unix_socket.hpp).

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <string>

#include "vmm/common/error.hpp"
#include "vmm/common/unix_socket.hpp"

namespace {

std::span<const std::byte> bytes_of(const std::string& text) {
    return std::as_bytes(std::span(text.data(), text.size()));
}

}  // namespace

TEST_CASE("a descriptor passed over a unix socket arrives and is usable", "[unix-socket]") {
    auto [berth_end, init_end] = berth::message_socket_pair();
    int ends[2];
    REQUIRE(::pipe2(ends, O_CLOEXEC) == 0);
    berth::UniqueFd read_end(ends[0]);
    berth::UniqueFd write_end(ends[1]);

    REQUIRE(berth::send_message(berth_end.get(), bytes_of("pipe"), write_end.get()));
    write_end.reset();  // only the passed copy is left
    std::byte buffer[16];
    auto received = berth::receive_message(init_end.get(), buffer);
    REQUIRE(received.has_value());
    CHECK(std::string(reinterpret_cast<const char*>(buffer), received->size) == "pipe");
    REQUIRE(received->fd.valid());
    CHECK((::fcntl(received->fd.get(), F_GETFD) & FD_CLOEXEC) != 0);
    REQUIRE(::write(received->fd.get(), "hi", 2) == 2);
    received->fd.reset();
    char text[4] = {};
    CHECK(::read(read_end.get(), text, sizeof text) == 2);
    CHECK(std::string(text) == "hi");
}

TEST_CASE("messages arrive whole and in order, and the peer's end reads as the end",
          "[unix-socket]") {
    auto [one, other] = berth::message_socket_pair();
    REQUIRE(berth::send_message(one.get(), bytes_of("first")));
    REQUIRE(berth::send_message(one.get(), bytes_of("second, longer than the buffer")));
    std::byte buffer[8];
    auto first = berth::receive_message(other.get(), buffer);
    REQUIRE(first);
    CHECK(first->size == 5);
    CHECK_FALSE(first->fd.valid());
    auto second = berth::receive_message(other.get(), buffer);
    REQUIRE(second);
    CHECK(second->size == sizeof buffer);  // cut to fit
    // Shut down for writing: the peer sees the end, and can still answer.
    REQUIRE(::shutdown(one.get(), SHUT_WR) == 0);
    CHECK_FALSE(berth::receive_message(other.get(), buffer).has_value());
    REQUIRE(berth::send_message(other.get(), bytes_of("reply")));
    CHECK(berth::receive_message(one.get(), buffer).has_value());
    // A closed peer: sending says so, without SIGPIPE.
    one.reset();
    CHECK_FALSE(berth::send_message(other.get(), bytes_of("gone")));
    CHECK_THROWS_AS(berth::send_message(other.get(), {}), berth::Error);
}
