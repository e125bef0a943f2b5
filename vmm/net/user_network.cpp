#include "vmm/net/user_network.hpp"

#include <arpa/inet.h>
#include <poll.h>
#include <slirp/libslirp.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstring>
#include <span>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/loaded_library.hpp"
#include "vmm/net/ipv4.hpp"

namespace berth::net {

namespace {

// The part of libslirp's API berth calls, looked up in the library loaded at run time.
struct SlirpApi {
    decltype(&::slirp_new) new_;
    decltype(&::slirp_cleanup) cleanup;
    decltype(&::slirp_pollfds_fill) pollfds_fill;
    decltype(&::slirp_pollfds_poll) pollfds_poll;
    decltype(&::slirp_input) input;
    decltype(&::slirp_handle_timer) handle_timer;
    decltype(&::slirp_add_hostfwd) add_hostfwd;
};

constexpr const char* slirp_library = "libslirp.so.0";

// Loaded once and kept for the rest of the process (common/loaded_library.hpp).
const SlirpApi& slirp_api() {
    static const SlirpApi api = [] {
        const LoadedLibrary library(slirp_library, "user-mode networking",
                                    "libslirp0 (4.7 or newer)");
        SlirpApi loaded{};
        library.look_up("slirp_new", loaded.new_);
        library.look_up("slirp_cleanup", loaded.cleanup);
        library.look_up("slirp_pollfds_fill", loaded.pollfds_fill);
        library.look_up("slirp_pollfds_poll", loaded.pollfds_poll);
        library.look_up("slirp_input", loaded.input);
        library.look_up("slirp_handle_timer", loaded.handle_timer);
        library.look_up("slirp_add_hostfwd", loaded.add_hostfwd);
        return loaded;
    }();
    return api;
}

in_addr ipv4(const char* text) {
    in_addr address{};
    ::inet_pton(AF_INET, text, &address);
    return address;
}

std::int64_t now_ns() {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return std::int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

}  // namespace

void load_user_network_library() {
    slirp_api();
}

// libslirp's state and everything its callbacks reach. Only the poll loop's thread
// touches it once the loop runs (before that, the constructor's).
struct UserNetwork::Stack {
    struct Timer {
        SlirpTimerId id;
        void* cb_opaque;
        std::int64_t expire_ms = -1;  // -1: not armed
    };

    const SlirpApi& api = slirp_api();
    ::Slirp* state = nullptr;
    UserNetwork* owner = nullptr;
    // The caller's array while slirp fills it (add_waits) and reads it back (waited):
    // slirp's handles are indices into it.
    std::vector<pollfd>* filling = nullptr;
    std::span<const pollfd> ready;
    std::vector<std::unique_ptr<Timer>> timers;

    ~Stack() {
        if (state != nullptr) {
            api.cleanup(state);  // closes its sockets, frees its timers
        }
    }

    static Stack& of(void* opaque) { return *static_cast<Stack*>(opaque); }

    // --- libslirp's callbacks (SlirpCb) ---------------------------------------------
    static ssize_t send_packet(const void* data, std::size_t length, void* opaque) {
        Stack& self = of(opaque);
        if (self.owner->receive_) {
            self.owner->receive_({static_cast<const std::uint8_t*>(data), length});
        }
        return static_cast<ssize_t>(length);
    }
    // The guest's mistakes are its own business; they must not reach berth's console.
    static void guest_error(const char*, void*) {}
    static std::int64_t clock_get_ns(void*) { return now_ns(); }
    static void* timer_new_opaque(SlirpTimerId id, void* cb_opaque, void* opaque) {
        auto& timers = of(opaque).timers;
        timers.push_back(std::make_unique<Timer>(Timer{id, cb_opaque}));
        return timers.back().get();
    }
    static void timer_free(void* timer, void* opaque) {
        std::erase_if(of(opaque).timers, [&](const auto& t) { return t.get() == timer; });
    }
    static void timer_mod(void* timer, std::int64_t expire_ms, void*) {
        static_cast<Timer*>(timer)->expire_ms = expire_ms;
    }
    // Slirp is asked for its descriptors before every wait, on the thread that waits,
    // so neither a new descriptor nor its "something changed" needs telling anyone.
    static void register_poll_fd(int, void*) {}
    static void unregister_poll_fd(int, void*) {}
    static void notify(void*) {}

    static int add_poll(int fd, int events, void* opaque) {
        short wanted = 0;
        wanted |= (events & SLIRP_POLL_IN) != 0 ? POLLIN : 0;
        wanted |= (events & SLIRP_POLL_OUT) != 0 ? POLLOUT : 0;
        wanted |= (events & SLIRP_POLL_PRI) != 0 ? POLLPRI : 0;
        auto& fds = *of(opaque).filling;
        fds.push_back({fd, wanted, 0});
        return static_cast<int>(fds.size() - 1);
    }
    static int get_revents(int index, void* opaque) {
        const auto& fds = of(opaque).ready;
        if (index < 0 || static_cast<std::size_t>(index) >= fds.size()) {
            return 0;
        }
        const short got = fds[static_cast<std::size_t>(index)].revents;
        int events = 0;
        events |= (got & POLLIN) != 0 ? SLIRP_POLL_IN : 0;
        events |= (got & POLLOUT) != 0 ? SLIRP_POLL_OUT : 0;
        events |= (got & POLLPRI) != 0 ? SLIRP_POLL_PRI : 0;
        events |= (got & (POLLERR | POLLNVAL)) != 0 ? SLIRP_POLL_ERR : 0;
        events |= (got & POLLHUP) != 0 ? SLIRP_POLL_HUP : 0;
        return events;
    }

    // Milliseconds until the next armed timer, at most `limit`.
    std::uint32_t timer_timeout(std::uint32_t limit) const {
        const std::int64_t now = now_ns() / 1'000'000;
        std::int64_t timeout = limit;
        for (const auto& timer : timers) {
            if (timer->expire_ms >= 0) {
                timeout = std::min(timeout, std::max<std::int64_t>(0, timer->expire_ms - now));
            }
        }
        return static_cast<std::uint32_t>(timeout);
    }
    void fire_timers() {
        const std::int64_t now = now_ns() / 1'000'000;
        // A handler may add, change or free timers: collect first.
        std::vector<std::pair<SlirpTimerId, void*>> due;
        for (auto& timer : timers) {
            if (timer->expire_ms >= 0 && timer->expire_ms <= now) {
                timer->expire_ms = -1;
                due.emplace_back(timer->id, timer->cb_opaque);
            }
        }
        for (const auto& [id, cb_opaque] : due) {
            api.handle_timer(state, id, cb_opaque);
        }
    }
};

namespace {

const SlirpCb slirp_callbacks = [] {
    SlirpCb callbacks{};
    callbacks.send_packet = UserNetwork::Stack::send_packet;
    callbacks.guest_error = UserNetwork::Stack::guest_error;
    callbacks.clock_get_ns = UserNetwork::Stack::clock_get_ns;
    callbacks.timer_free = UserNetwork::Stack::timer_free;
    callbacks.timer_mod = UserNetwork::Stack::timer_mod;
    callbacks.register_poll_fd = UserNetwork::Stack::register_poll_fd;
    callbacks.unregister_poll_fd = UserNetwork::Stack::unregister_poll_fd;
    callbacks.notify = UserNetwork::Stack::notify;
    callbacks.timer_new_opaque = UserNetwork::Stack::timer_new_opaque;
    return callbacks;
}();

}  // namespace

UserNetwork::UserNetwork(const UserNetworkConfig& config) : slirp_(std::make_unique<Stack>()) {
    // libslirp writes to the host's sockets with plain send(): a peer that closed its
    // end (an iperf3 server ending a test, any client that hangs up) raises SIGPIPE,
    // which would kill berth and the guest with it. The error it also returns (EPIPE)
    // is what libslirp handles. QEMU ignores SIGPIPE for the same reason.
    std::signal(SIGPIPE, SIG_IGN);
    slirp_->owner = this;
    SlirpConfig settings{};
    settings.version = 4;  // up to disable_dhcp; libslirp 4.7 (Debian 12) knows it
    settings.restricted = 0;
    settings.in_enabled = true;
    settings.vnetwork = ipv4("10.0.2.0");
    settings.vnetmask = ipv4("255.255.255.0");
    settings.vhost = ipv4("10.0.2.2");
    settings.vdhcp_start = ipv4("10.0.2.15");
    settings.vnameserver = ipv4("10.0.2.3");
    settings.vhostname = "berth-guest";
    // IPv6 stays off: the guest gets IPv4 by DHCP and nothing else to configure.
    settings.in6_enabled = false;
    settings.disable_host_loopback = false;  // 10.0.2.2 reaches the host's 127.0.0.1
    settings.enable_emu = false;
    slirp_->state = slirp_->api.new_(&settings, &slirp_callbacks, slirp_.get());
    if (slirp_->state == nullptr) {
        throw Error("libslirp cannot make a network stack (slirp_new failed)");
    }
    for (const PortForward& forward : config.forwards) {
        in_addr host{};
        host.s_addr = htonl(forward.host_address);
        errno = 0;
        if (slirp_->api.add_hostfwd(slirp_->state, forward.protocol == Protocol::udp ? 1 : 0, host,
                                    forward.host_port, ipv4("10.0.2.15"),
                                    forward.guest_port) != 0) {
            const int err = errno;
            throw bad_input(fmt::format(
                "cannot listen on host port {}:{} (for guest port {}/{}): {}; publish another "
                "host port (one nothing else listens on; below 1024 only root may)",
                ipv4_text(forward.host_address), forward.host_port, forward.guest_port,
                forward.protocol == Protocol::udp ? "udp" : "tcp",
                err != 0 ? std::strerror(err) : "refused"));
        }
    }
}

UserNetwork::~UserNetwork() {
    // The stack goes first, while the members its callbacks reach (receive_) still
    // exist: slirp_cleanup may call back.
    slirp_.reset();
}

void UserNetwork::start(Receive receive) {
    receive_ = std::move(receive);
}

void UserNetwork::send(std::span<const std::uint8_t> frame) {
    slirp_->api.input(slirp_->state, frame.data(), static_cast<int>(frame.size()));
}

void UserNetwork::add_waits(std::vector<pollfd>& fds, int& timeout_ms) {
    Stack& slirp = *slirp_;
    std::uint32_t timeout = timeout_ms < 0 ? UINT32_MAX : static_cast<std::uint32_t>(timeout_ms);
    slirp.filling = &fds;
    slirp.api.pollfds_fill(slirp.state, &timeout, Stack::add_poll, &slirp);
    slirp.filling = nullptr;
    timeout = slirp.timer_timeout(std::min<std::uint32_t>(timeout, INT_MAX));
    timeout_ms = timeout >= static_cast<std::uint32_t>(INT_MAX) ? -1 : static_cast<int>(timeout);
}

void UserNetwork::waited(std::span<const pollfd> fds) {
    Stack& slirp = *slirp_;
    slirp.ready = fds;
    slirp.api.pollfds_poll(slirp.state, 0, Stack::get_revents, &slirp);
    slirp.ready = {};
    slirp.fire_timers();
}

}  // namespace berth::net
