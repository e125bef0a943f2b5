#include "vmm/common/unix_socket.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "vmm/common/error.hpp"

namespace berth {

std::pair<UniqueFd, UniqueFd> message_socket_pair() {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
        throw_errno("cannot create a unix socket pair", errno);
    }
    return {UniqueFd(pair[0]), UniqueFd(pair[1])};
}

bool send_message(int socket, std::span<const std::byte> data, int fd) {
    if (data.empty()) {
        throw Error("cannot send an empty message: the peer would read it as the end");
    }
    iovec payload{const_cast<std::byte*>(data.data()), data.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr message{};
    message.msg_iov = &payload;
    message.msg_iovlen = 1;
    if (fd >= 0) {
        message.msg_control = control;
        message.msg_controllen = sizeof control;
        cmsghdr* header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(header), &fd, sizeof(int));
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
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr message{};
    message.msg_iov = &payload;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
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
        if (header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_RIGHTS &&
            header->cmsg_len >= CMSG_LEN(sizeof(int))) {
            int fd = -1;
            std::memcpy(&fd, CMSG_DATA(header), sizeof(int));
            received.fd.reset(fd);
        }
    }
    // The end: an empty read without a descriptor (an empty message is never sent).
    if (length == 0 && !received.fd) {
        return std::nullopt;
    }
    received.size = static_cast<std::size_t>(length);
    return received;
}

}  // namespace berth
