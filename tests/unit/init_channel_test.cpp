// The channel between berth and the container's init (container/init_channel.hpp):
// typed messages with their value, text and descriptor, the end after finish_sending,
// and init's error carried back whole, with its status.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <span>
#include <string>

#include "vmm/common/error.hpp"
#include "vmm/container/container_runtime.hpp"
#include "vmm/container/init_channel.hpp"

using berth::container::InitChannel;
using berth::container::InitMessage;

TEST_CASE("init's messages arrive typed, with value, text and descriptor", "[init-channel]") {
    auto [berth_end, init_end] = InitChannel::open();
    int ends[2];
    REQUIRE(::pipe2(ends, O_CLOEXEC) == 0);
    berth::UniqueFd read_end(ends[0]);
    berth::UniqueFd write_end(ends[1]);

    const int passed = write_end.get();
    REQUIRE(init_end.send(InitMessage::terminal, 0, {}, std::span(&passed, 1)));
    REQUIRE(init_end.send(InitMessage::command_exited, 137));
    auto terminal = berth_end.receive();
    REQUIRE(terminal);
    CHECK(terminal->kind == InitMessage::terminal);
    berth::UniqueFd master = terminal->take_fd();
    REQUIRE(master.valid());
    CHECK_FALSE(terminal->take_fd(1).valid());  // only one came
    REQUIRE(::write(master.get(), "x", 1) == 1);
    char byte = 0;
    CHECK(::read(read_end.get(), &byte, 1) == 1);
    CHECK(byte == 'x');
    auto exited = berth_end.receive();
    REQUIRE(exited);
    CHECK(exited->kind == InitMessage::command_exited);
    CHECK(exited->value == 137);
    CHECK(exited->fds.empty());
}

TEST_CASE("init's error comes back whole, with its status, after berth finished sending",
          "[init-channel]") {
    auto [berth_end, init_end] = InitChannel::open();
    REQUIRE(berth_end.send(InitMessage::user_namespace_mapped));
    berth_end.finish_sending();
    auto go = init_end.receive();
    REQUIRE(go);
    CHECK(go->kind == InitMessage::user_namespace_mapped);
    CHECK_FALSE(init_end.receive().has_value());  // the end: berth is done

    const berth::Error failure = berth::bad_input("rootfs /x: cannot mount proc on proc: denied");
    REQUIRE(init_end.send_failure(failure));
    auto report = berth_end.receive();
    REQUIRE(report);
    CHECK(report->kind == InitMessage::start_failed);
    const berth::Error carried = berth::container::failure_of(*report);
    CHECK(std::string(carried.what()) == failure.what());
    CHECK(carried.status() == berth::ExitStatus::bad_input);

    REQUIRE(init_end.send_failure(berth::Error("x", berth::container::runtime_failure)));
    CHECK(berth::container::failure_of(*berth_end.receive()).status() ==
          berth::container::runtime_failure);

    init_end.close();
    CHECK_FALSE(berth_end.receive().has_value());
    CHECK_FALSE(berth_end.send(InitMessage::setup_done));  // init gone: no SIGPIPE
}
