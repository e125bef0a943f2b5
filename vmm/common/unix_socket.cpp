#include "vmm/common/unix_socket.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "vmm/common/error.hpp"

namespace berth {

std::pair<UniqueFd, UniqueFd> message_socket_pair() {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
        throw_errno("cannot create a unix socket pair", errno);
    }
    return {UniqueFd(pair[0]), UniqueFd(pair[1])};
}

namespace {

// Room for the largest SCM_RIGHTS header a message may carry.
struct ControlBuffer {
    alignas(cmsghdr) char bytes[CMSG_SPACE(sizeof(int) * max_passed_fds)] = {};
};

}  // namespace

bool send_message(int socket, std::span<const std::byte> data, std::span<const int> fds) {
    if (data.empty()) {
        throw Error("cannot send an empty message: the peer would read it as the end");
    }
    if (fds.size() > max_passed_fds) {
        throw Error(fmt::format("cannot pass {} descriptors in one message (at most {})",
                                fds.size(), max_passed_fds));
    }
    iovec payload{const_cast<std::byte*>(data.data()), data.size()};
    ControlBuffer control;
    msghdr message{};
    message.msg_iov = &payload;
    message.msg_iovlen = 1;
    if (!fds.empty()) {
        message.msg_control = control.bytes;
        message.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(header), fds.data(), sizeof(int) * fds.size());
    }
    ssize_t sent;
    while ((sent = ::sendmsg(socket, &message, MSG_NOSIGNAL)) < 0 && errno == EINTR) {
    }
    if (sent < 0 && (errno == EPIPE || errno == ECONNRESET)) {
        return false;
    }
    if (sent != static_cast<ssize_t>(data.size())) {
        throw_errno("cannot send on a unix socket", sent < 0 ? errno : EMSGSIZE);
    }
    return true;
}

std::optional<ReceivedMessage> receive_message(int socket, std::span<std::byte> buffer) {
    iovec payload{buffer.data(), buffer.size()};
    ControlBuffer control;
    msghdr message{};
    message.msg_iov = &payload;
    message.msg_iovlen = 1;
    message.msg_control = control.bytes;
    message.msg_controllen = sizeof control.bytes;
    ssize_t length;
    while ((length = ::recvmsg(socket, &message, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
    }
    if (length < 0) {
        if (errno == ECONNRESET) {
            return std::nullopt;
        }
        throw_errno("cannot receive on a unix socket", errno);
    }
    ReceivedMessage received;
    for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
         header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_RIGHTS) {
            const std::size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (std::size_t i = 0; i < count; ++i) {
                int fd = -1;
                std::memcpy(&fd, CMSG_DATA(header) + i * sizeof(int), sizeof(int));
                received.fds.emplace_back(fd);
            }
        }
    }
    // More descriptors than fit were closed by the kernel: the message is not what was sent.
    if ((message.msg_flags & MSG_CTRUNC) != 0) {
        throw Error("a message on a unix socket came with more descriptors than expected");
    }
    // The end: an empty read without a descriptor (an empty message is never sent).
    if (length == 0 && received.fds.empty()) {
        return std::nullopt;
    }
    received.size = static_cast<std::size_t>(length);
    return received;
}

}  // namespace berth
