#include "vmm/container/init_channel.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "vmm/common/unix_socket.hpp"

namespace berth::container {

namespace {

// On the wire: the kind (one byte), the value (an int, host order: both ends are the
// same berth binary), then the text.
constexpr std::size_t header_size = 1 + sizeof(int);
// An error's text is a line; a longer one arrives cut to this.
constexpr std::size_t largest_message = 4096;

}  // namespace

const char* name_of(InitMessage kind) {
    switch (kind) {
        case InitMessage::user_namespace_mapped:
            return "user_namespace_mapped";
        case InitMessage::network_namespace:
            return "network_namespace";
        case InitMessage::setup_done:
            return "setup_done";
        case InitMessage::terminal:
            return "terminal";
        case InitMessage::command_started:
            return "command_started";
        case InitMessage::start_failed:
            return "start_failed";
        case InitMessage::command_exited:
            return "command_exited";
        case InitMessage::awaiting_start:
            return "awaiting_start";
        case InitMessage::recorded:
            return "recorded";
    }
    return "an unknown message";
}

std::pair<InitChannel, InitChannel> InitChannel::open() {
    try {
        auto [berth_end, init_end] = message_socket_pair();
        return {InitChannel(std::move(berth_end)), InitChannel(std::move(init_end))};
    } catch (const Error& e) {
        throw e.with_context("cannot open a channel to the container's init");
    }
}

UniqueFd InitNote::take_fd(std::size_t index) {
    return index < fds.size() ? std::move(fds[index]) : UniqueFd();
}

bool InitChannel::send(InitMessage kind, int value, std::string_view text,
                       std::span<const int> fds) const {
    std::array<std::byte, largest_message> wire;
    text = text.substr(0, wire.size() - header_size);
    wire[0] = static_cast<std::byte>(kind);
    std::memcpy(wire.data() + 1, &value, sizeof value);
    // std::copy rather than memcpy: an empty view may hold a null pointer, which memcpy
    // must never be given, even for zero bytes.
    std::copy(text.begin(), text.end(), reinterpret_cast<char*>(wire.data() + header_size));
    try {
        return send_message(socket_.get(), std::span(wire.data(), header_size + text.size()), fds);
    } catch (const Error& e) {
        throw e.with_context(fmt::format("cannot send {}", name_of(kind)));
    }
}

bool InitChannel::send_failure(const Error& error) const {
    return send(InitMessage::start_failed, static_cast<int>(error.status()), error.what());
}

std::optional<InitNote> InitChannel::receive() const {
    std::array<std::byte, largest_message> wire;
    std::optional<ReceivedMessage> received;
    try {
        received = receive_message(socket_.get(), wire);
    } catch (const Error& e) {
        throw e.with_context("cannot hear from the other side of the container's channel");
    }
    if (!received) {
        return std::nullopt;
    }
    if (received->size < header_size) {
        throw Error(fmt::format("a {}-byte message on the container's channel is too short",
                                received->size));
    }
    InitNote note;
    note.kind = static_cast<InitMessage>(wire[0]);
    std::memcpy(&note.value, wire.data() + 1, sizeof note.value);
    note.text.assign(reinterpret_cast<const char*>(wire.data() + header_size),
                     received->size - header_size);
    note.fds = std::move(received->fds);
    return note;
}

void InitChannel::finish_sending() const {
    // Only fails when the other side is gone already, which is the same end.
    ::shutdown(socket_.get(), SHUT_WR);
}

Error failure_of(const InitNote& note) {
    return Error(note.text, static_cast<ExitStatus>(note.value));
}

}  // namespace berth::container
