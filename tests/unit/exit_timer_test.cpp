#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "devices/bus/port_io_bus.hpp"
#include "vmm/machine/exit_stats.hpp"
#include "vmm/machine/exit_timer.hpp"

using berth::machine::ExitStats;
using berth::machine::ExitTimer;
using berth::machine::ExitTiming;
using berth::machine::ExitTraceWriter;

namespace {

std::filesystem::path temp_trace_path() {
    std::string pattern = (std::filesystem::temp_directory_path() / "berth-timer-XXXXXX").string();
    const int fd = ::mkstemp(pattern.data());
    REQUIRE(fd >= 0);
    ::close(fd);
    return pattern;
}

kvm_run port_out_exit(std::uint16_t port) {
    kvm_run run{};
    run.exit_reason = KVM_EXIT_IO;
    run.io.direction = KVM_EXIT_IO_OUT;
    run.io.port = port;
    run.io.size = 1;
    run.io.count = 1;
    return run;
}

}  // namespace

TEST_CASE("exit timer: untimed, it reads no clock and adds no time", "[trace]") {
    ExitTiming timing;
    ExitStats stats;
    berth::devices::PortIoBus bus;
    const kvm_run run = port_out_exit(0x3f8);
    { const ExitTimer timer(timing, run, 0, stats, bus); }
    CHECK(stats.total_time_ns(KVM_EXIT_IO) == 0);
    CHECK(stats.table().find("total_us") == std::string::npos);
}

TEST_CASE("exit timer: each vCPU's exits land in its row, also when handling throws", "[trace]") {
    const auto path = temp_trace_path();
    {
        ExitTiming timing;
        timing.trace = ExitTraceWriter::create(path, "berth linux test");
        timing.timed = true;
        timing.trace->add_vcpu(0);
        timing.trace->add_vcpu(1);
        ExitStats stats0;
        ExitStats stats1;
        berth::devices::PortIoBus bus;
        const kvm_run out = port_out_exit(0x501);
        { const ExitTimer timer(timing, out, 0, stats0, bus); }
        try {
            const ExitTimer timer(timing, out, 1, stats1, bus);
            throw std::runtime_error("guest died");
        } catch (const std::runtime_error&) {
        }
        timing.trace->finish();
        CHECK(stats0.table().find("total_us") != std::string::npos);
        CHECK(stats1.table().find("total_us") != std::string::npos);
    }
    std::ifstream in(path);
    const auto trace = nlohmann::json::parse(in);
    std::filesystem::remove(path);
    int exits = 0;
    std::set<int> tids;
    for (const auto& event : trace["traceEvents"]) {
        if (event["ph"] == "X") {
            ++exits;
            tids.insert(event["tid"].get<int>());
            CHECK(event["name"] == "IO out 0x501");
        }
    }
    CHECK(exits == 2);
    CHECK(tids == std::set<int>{0, 1});
}
