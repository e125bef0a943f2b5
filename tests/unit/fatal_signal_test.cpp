// berth's fatal-signal handling (common/fatal_signal.hpp) with its two users: the
// SIGBUS guard of virtio-blk's mapped reads and the raw terminal. Whether the
// terminal's hook is registered before or after the guard's filter, a read of a
// truncated image fails with IOERR without running the hook, and a SIGBUS outside a
// guarded copy runs the hook and then the action that was there before berth's.
//
// Every case runs in a forked child (the signals end it), and in a process of its
// own (signal-tests, not unit-tests): berth installs its handler once per process and
// keeps it, so a parent that had ever made a guarded copy would hand every child the
// handler already installed, and "the hook first" could not be tested.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>

#include "devices/virtio/file_mapping.hpp"
#include "devices/virtio/sigbus_guard.hpp"
#include "tests/unit/virtio_blk_driver.hpp"
#include "vmm/common/fatal_signal.hpp"
#include "vmm/common/raw_terminal.hpp"
#include "vmm/common/unique_fd.hpp"
#include "vmm/container/pseudo_terminal.hpp"

using namespace berth::test;
using berth::LastWordsHook;
using berth::UniqueFd;
using berth::devices::virtio::FileMapping;

namespace {

// The child's end of the report pipe: the child writes one letter per thing that
// happened, from handlers too (write is async-signal-safe).
int report_fd = -1;
void report(char letter) {
    [[maybe_unused]] const auto written = ::write(report_fd, &letter, 1);
}
void hook_reports() {
    report('t');
}

struct ChildResult {
    int status = 0;
    std::string reports;
};

bool killed_by(int status, int signal_number) {
    return WIFSIGNALED(status) && WTERMSIG(status) == signal_number;
}

bool exited_with(int status, int code) {
    return WIFEXITED(status) && WEXITSTATUS(status) == code;
}

// Runs `body` in a child, which reports 'x' and exits 0 if it survives the body.
template <typename Body>
ChildResult in_child(Body body) {
    int ends[2];
    REQUIRE(::pipe2(ends, O_CLOEXEC) == 0);
    UniqueFd read_end(ends[0]);
    UniqueFd write_end(ends[1]);
    const pid_t child = ::fork();
    if (child == 0) {
        // No Catch2 assertion may run here: the reporter would print it twice.
        report_fd = write_end.get();
        // The same start in every build: no Catch2 or sanitizer handler (they would
        // report in the child, or end it their own way), and no core files.
        for (int signal_number : berth::fatal_signals) {
            ::signal(signal_number, SIG_DFL);
        }
        const rlimit no_core{0, 0};
        ::setrlimit(RLIMIT_CORE, &no_core);
        body();
        report('x');
        ::_exit(0);
    }
    REQUIRE(child > 0);
    write_end = UniqueFd();
    ChildResult result;
    char buffer[64];
    for (;;) {
        const ssize_t got = ::read(read_end.get(), buffer, sizeof buffer);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            break;
        }
        result.reports.append(buffer, static_cast<std::size_t>(got));
    }
    REQUIRE(::waitpid(child, &result.status, 0) == child);
    return result;
}

enum class Order { guard_first, hook_first };

constexpr std::uint64_t image_size = 1 << 20;

volatile int sink = 0;                           // keeps the unguarded read
const void* volatile touched_address = nullptr;  // read by a handler

// In the child: a virtio-blk disk on `image` (a fresh one, truncated here), with
// `register_hook` called before the first guarded copy (which sets the SIGBUS filter)
// or after it. Reports 'g' for each read of the truncated part that failed with IOERR
// (exits 2 at once if one did not; 3 if the setup failed), calls `after_reads`, then
// touches the truncated part outside a guarded copy.
template <typename RegisterHook, typename AfterReads>
void truncated_reads_then_touch(const PatternImage& image, Order order, RegisterHook register_hook,
                                AfterReads after_reads) {
    const UniqueFd file(::open(image.path.c_str(), O_RDONLY | O_CLOEXEC));
    auto unguarded = FileMapping::map_read_only(file.get(), image_size);
    if (!unguarded) {
        ::_exit(3);
    }
    if (order == Order::hook_first) {
        register_hook();
    }
    Blk blk = open_blk(image, Access::read_only);
    if (!blk.reads_from_mapping()) {
        ::_exit(3);
    }
    Driver driver(blk);
    if (driver.request(BlkRequestType::in, 1000, {4096}) != 0) {
        ::_exit(2);
    }
    if (order == Order::guard_first) {
        register_hook();
    }
    if (::truncate(image.path.c_str(), 4096) != 0) {
        ::_exit(3);
    }
    // Twice: the first caught fault must not leave SIGBUS blocked.
    for (const std::uint64_t sector : {1000, 1500}) {
        if (driver.request(BlkRequestType::in, sector, {4096}) != 1) {
            ::_exit(2);
        }
        report('g');
    }
    after_reads();
    const volatile std::uint8_t* gone = unguarded->bytes().data() + 8192;
    touched_address = unguarded->bytes().data() + 8192;
    sink = *gone;
}

const char* name(Order order) {
    return order == Order::guard_first ? "guard first" : "hook first";
}

}  // namespace

TEST_CASE(
    "a truncated image fails reads with IOERR and only a real SIGBUS runs the hook, in either "
    "order",
    "[fatal-signal][blk]") {
    for (const Order order : {Order::guard_first, Order::hook_first}) {
        INFO(name(order));
        const PatternImage image(image_size);
        const ChildResult result = in_child([&] {
            std::optional<LastWordsHook> hook;
            truncated_reads_then_touch(
                image, order, [&] { hook.emplace(hook_reports); }, [] {});
        });
        // Two caught reads without the hook, then the hook once, then the default.
        CHECK(result.reports == "ggt");
        CHECK(killed_by(result.status, SIGBUS));
    }
}

namespace {

void foreign_with_info(int, siginfo_t* info, void*) {
    ::_exit(info->si_code == BUS_ADRERR && info->si_addr == touched_address ? 43 : 44);
}
void foreign_plain(int) {
    ::_exit(45);
}

}  // namespace

TEST_CASE("a SIGBUS outside a guarded copy reaches the handler that was there before berth's",
          "[fatal-signal][blk]") {
    for (const Order order : {Order::guard_first, Order::hook_first}) {
        INFO(name(order));
        const PatternImage with_info_image(image_size);
        const ChildResult with_info = in_child([&] {
            struct sigaction foreign {};
            foreign.sa_sigaction = foreign_with_info;
            sigemptyset(&foreign.sa_mask);
            foreign.sa_flags = SA_SIGINFO;
            ::sigaction(SIGBUS, &foreign, nullptr);
            std::optional<LastWordsHook> hook;
            truncated_reads_then_touch(
                with_info_image, order, [&] { hook.emplace(hook_reports); }, [] {});
        });
        CHECK(with_info.reports == "ggt");
        CAPTURE(with_info.status);
        CHECK(exited_with(with_info.status, 43));  // with the fault's own siginfo

        const PatternImage plain_image(image_size);
        const ChildResult plain = in_child([&] {
            ::signal(SIGBUS, foreign_plain);
            std::optional<LastWordsHook> hook;
            truncated_reads_then_touch(
                plain_image, order, [&] { hook.emplace(hook_reports); }, [] {});
        });
        CHECK(plain.reports == "ggt");
        CHECK(exited_with(plain.status, 45));
    }
}

TEST_CASE("the raw terminal stays raw through a caught SIGBUS and is put back when one ends berth",
          "[fatal-signal][blk][console]") {
    const auto pty = berth::container::PtyPair::open();
    termios before{};
    REQUIRE(::tcgetattr(pty.slave.get(), &before) == 0);
    REQUIRE((before.c_lflag & ICANON) != 0);  // a new pseudo-terminal is in cooked mode
    for (const Order order : {Order::guard_first, Order::hook_first}) {
        INFO(name(order));
        const PatternImage image(image_size);
        const ChildResult result = in_child([&] {
            std::optional<berth::RawTerminal> terminal;
            auto make_raw = [&] {
                terminal.emplace(pty.slave.get());
                if (!terminal->active()) {
                    ::_exit(3);
                }
            };
            auto still_raw = [&] {
                termios now{};
                if (::tcgetattr(pty.slave.get(), &now) == 0 && (now.c_lflag & ICANON) == 0) {
                    report('r');
                }
            };
            truncated_reads_then_touch(image, order, make_raw, still_raw);
        });
        CHECK(result.reports == "ggr");
        CHECK(killed_by(result.status, SIGBUS));
        termios after{};
        REQUIRE(::tcgetattr(pty.slave.get(), &after) == 0);
        CHECK(after.c_lflag == before.c_lflag);
        CHECK(after.c_iflag == before.c_iflag);
        CHECK(after.c_oflag == before.c_oflag);
    }
}

TEST_CASE("ct run -t's untouched-output raw mode is put back when an abort ends berth",
          "[fatal-signal][console]") {
    const auto pty = berth::container::PtyPair::open();
    termios before{};
    REQUIRE(::tcgetattr(pty.slave.get(), &before) == 0);
    REQUIRE((before.c_oflag & OPOST) != 0);
    const ChildResult result = in_child([&] {
        const berth::RawTerminal terminal(pty.slave.get(), berth::RawTerminal::Output::raw);
        termios now{};
        if (!terminal.active() || ::tcgetattr(pty.slave.get(), &now) != 0) {
            ::_exit(3);
        }
        if ((now.c_lflag & ICANON) == 0 && (now.c_oflag & OPOST) == 0) {
            report('r');
        }
        std::abort();
    });
    CHECK(result.reports == "r");
    CHECK(killed_by(result.status, SIGABRT));
    termios after{};
    REQUIRE(::tcgetattr(pty.slave.get(), &after) == 0);
    CHECK(after.c_lflag == before.c_lflag);
    CHECK(after.c_iflag == before.c_iflag);
    CHECK(after.c_oflag == before.c_oflag);
}

TEST_CASE(
    "signals sent with kill or abort run the hooks and end berth as before; ignored ones stay "
    "ignored",
    "[fatal-signal]") {
    const ChildResult raised = in_child([] {
        const LastWordsHook hook(hook_reports);
        ::raise(SIGILL);
    });
    CHECK(raised.reports == "t");
    CHECK(killed_by(raised.status, SIGILL));

    const ChildResult aborted = in_child([] {
        const LastWordsHook hook(hook_reports);
        std::abort();
    });
    CHECK(aborted.reports == "t");
    CHECK(killed_by(aborted.status, SIGABRT));

    const ChildResult ignored = in_child([] {
        ::signal(SIGFPE, SIG_IGN);
        const LastWordsHook hook(hook_reports);
        ::raise(SIGFPE);
        report('c');
    });
    CHECK(ignored.reports == "cx");
    CHECK(exited_with(ignored.status, 0));

    const ChildResult removed = in_child([] {
        { const LastWordsHook hook(hook_reports); }
        ::raise(SIGILL);
    });
    CHECK(removed.reports.empty());
    CHECK(killed_by(removed.status, SIGILL));
}

namespace {

const volatile std::uint8_t* no_access_page = nullptr;
void hook_that_faults() {
    report('t');
    sink = *no_access_page;
}

sigjmp_buf filter_jump;
volatile std::sig_atomic_t filter_armed = 0;
void jumping_filter(int, siginfo_t*) {
    if (filter_armed != 0) {
        siglongjmp(filter_jump, 1);
    }
}
void other_filter(int, siginfo_t*) {}

// Its own function, so that nothing of the caller lives across sigsetjmp.
[[gnu::noinline]] void raise_into_filter() {
    if (sigsetjmp(filter_jump, 0) == 0) {
        ::raise(SIGILL);
        report('n');  // the filter did not take it
    } else {
        report('j');
    }
}

}  // namespace

TEST_CASE("a fault inside a hook ends berth instead of running the hooks again", "[fatal-signal]") {
    const ChildResult result = in_child([] {
        void* page = ::mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (page == MAP_FAILED) {
            ::_exit(3);
        }
        no_access_page = static_cast<const volatile std::uint8_t*>(page);
        const LastWordsHook hook(hook_that_faults);
        ::raise(SIGILL);
    });
    CHECK(result.reports == "t");
    CHECK(killed_by(result.status, SIGSEGV));
}

TEST_CASE("a signal's filter sees it before the hooks, and there is one filter per signal",
          "[fatal-signal]") {
    const ChildResult result = in_child([] {
        auto throws = [](auto call) {
            try {
                call();
            } catch (const std::exception&) {
                return true;
            }
            return false;
        };
        if (throws([] { berth::set_signal_filter(SIGUSR1, jumping_filter); })) {
            report('a');  // not a fatal signal
        }
        const LastWordsHook hook(hook_reports);
        berth::set_signal_filter(SIGILL, jumping_filter);
        if (!throws([] { berth::set_signal_filter(SIGILL, jumping_filter); })) {
            report('b');  // the same filter again is fine
        }
        if (throws([] { berth::set_signal_filter(SIGILL, other_filter); })) {
            report('c');
        }
        // Taken twice: the first jump must not leave SIGILL blocked.
        filter_armed = 1;
        raise_into_filter();
        raise_into_filter();
        filter_armed = 0;
        ::raise(SIGILL);
    });
    CHECK(result.reports == "abcjjt");
    CHECK(killed_by(result.status, SIGILL));
}
