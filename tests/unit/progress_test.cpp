#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <string>

#include "vmm/common/progress.hpp"
#include "vmm/common/unique_fd.hpp"

using namespace berth;

namespace {

// Everything readable now from a non-blocking descriptor.
std::string drain(int fd) {
    std::string text;
    char buffer[4096];
    ssize_t got;
    while ((got = ::read(fd, buffer, sizeof buffer)) > 0) {
        text.append(buffer, static_cast<std::size_t>(got));
    }
    return text;
}

}  // namespace

TEST_CASE("progress is silent when its descriptor is a pipe", "[progress]") {
    int ends[2];
    REQUIRE(::pipe2(ends, O_CLOEXEC | O_NONBLOCK) == 0);
    const UniqueFd read_end(ends[0]);
    const UniqueFd write_end(ends[1]);
    {
        ProgressReporter progress("converting a.img", 1 << 20, write_end.get());
        CHECK_FALSE(progress.active());
        progress.update(1 << 19);
        progress.step(1, 2, "first");
        progress.finish();
    }
    CHECK(drain(read_end.get()).empty());
}

TEST_CASE("progress redraws one line on a terminal", "[progress]") {
    const UniqueFd terminal(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    REQUIRE(terminal);
    REQUIRE(::grantpt(terminal.get()) == 0);
    REQUIRE(::unlockpt(terminal.get()) == 0);
    const UniqueFd screen(::open(::ptsname(terminal.get()), O_RDWR | O_NOCTTY | O_CLOEXEC));
    REQUIRE(screen);
    REQUIRE(::fcntl(terminal.get(), F_SETFL, O_NONBLOCK) == 0);
    ::unsetenv("BERTH_PROGRESS");

    SECTION("bytes, then 100% at the end") {
        {
            ProgressReporter progress("converting a.img", 2 << 20, screen.get());
            CHECK(progress.active());
            progress.update(1 << 20);
            progress.update(1 << 20);  // within 0.1 s of the last: not drawn again
            progress.finish();
        }
        const std::string shown = drain(terminal.get());
        CHECK(shown ==
              "\rberth: converting a.img: 50% (1.0 MiB of 2.0 MiB)\x1b[K"
              "\rberth: converting a.img: 100% (2.0 MiB of 2.0 MiB)\x1b[K\r\n");
    }
    SECTION("steps, one line each") {
        {
            ProgressReporter progress("image build debian", 0, screen.get());
            progress.step(1, 3, "debootstrap");
            progress.step(2, 3, "configuring");
        }
        CHECK(drain(terminal.get()) ==
              "berth: image build debian: [1/3] debootstrap\r\n"
              "berth: image build debian: [2/3] configuring\r\n");
    }
    SECTION("an error leaves the line where it was, ended") {
        {
            ProgressReporter progress("converting a.img", 4096, screen.get());
            progress.update(1024);
        }
        CHECK(drain(terminal.get()) ==
              "\rberth: converting a.img: 25% (1.0 KiB of 4.0 KiB)\x1b[K\r\n");
    }
    SECTION("BERTH_PROGRESS=0 silences it") {
        ::setenv("BERTH_PROGRESS", "0", 1);
        ProgressReporter progress("converting a.img", 4096, screen.get());
        CHECK_FALSE(progress.active());
        ::unsetenv("BERTH_PROGRESS");
    }
}

TEST_CASE("sizes are rounded for a person", "[progress]") {
    CHECK(approximate_size(512) == "512 bytes");
    CHECK(approximate_size(1536) == "1.5 KiB");
    CHECK(approximate_size(860ULL << 20) == "860 MiB");
    CHECK(approximate_size(2ULL << 30) == "2.0 GiB");
}
