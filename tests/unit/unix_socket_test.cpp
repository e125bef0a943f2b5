// Unix socket messages and descriptor passing (common/unix_socket.hpp).

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <vector>

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

    const int passed = write_end.get();
    REQUIRE(berth::send_message(berth_end.get(), bytes_of("pipe"), std::span(&passed, 1)));
    write_end.reset();  // only the passed copy is left
    std::byte buffer[16];
    auto received = berth::receive_message(init_end.get(), buffer);
    REQUIRE(received.has_value());
    CHECK(std::string(reinterpret_cast<const char*>(buffer), received->size) == "pipe");
    REQUIRE(received->fds.size() == 1);
    berth::UniqueFd& fd = received->fds[0];
    CHECK((::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC) != 0);
    REQUIRE(::write(fd.get(), "hi", 2) == 2);
    fd.reset();
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
    CHECK(first->fds.empty());
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

TEST_CASE("several descriptors travel in one message, in order; too many are refused",
          "[unix-socket]") {
    auto [one, other] = berth::message_socket_pair();
    std::vector<berth::UniqueFd> read_ends, write_ends;
    std::vector<int> passed;
    for (int i = 0; i < 3; ++i) {
        int ends[2];
        REQUIRE(::pipe2(ends, O_CLOEXEC) == 0);
        read_ends.emplace_back(ends[0]);
        write_ends.emplace_back(ends[1]);
        passed.push_back(ends[1]);
    }
    REQUIRE(berth::send_message(one.get(), bytes_of("three"), passed));
    std::byte buffer[8];
    auto received = berth::receive_message(other.get(), buffer);
    REQUIRE(received);
    REQUIRE(received->fds.size() == 3);
    for (int i = 0; i < 3; ++i) {
        const char mark = static_cast<char>('a' + i);
        REQUIRE(::write(received->fds[i].get(), &mark, 1) == 1);
        char got = 0;
        REQUIRE(::read(read_ends[i].get(), &got, 1) == 1);
        CHECK(got == mark);  // the i-th descriptor sent is the i-th received
    }
    const std::vector<int> too_many(berth::max_passed_fds + 1, passed[0]);
    CHECK_THROWS_AS(berth::send_message(one.get(), bytes_of("many"), too_many), berth::Error);
}
