#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vmm/machine/buses.hpp"
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
    berth::machine::Buses bus;
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
        berth::machine::Buses bus;
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

TEST_CASE("exit timer: a traced MMIO exit names the device behind the address", "[trace]") {
    struct Named : berth::devices::MmioDevice {
        std::string_view name() const override { return "whole"; }
        std::string_view name_at(std::uint64_t offset) const override {
            return offset < 0x100 ? "first part" : "second part";
        }
        void mmio_read(std::uint64_t, std::span<std::uint8_t>) override {}
        void mmio_write(std::uint64_t, std::span<const std::uint8_t>) override {}
    };
    const auto path = temp_trace_path();
    {
        ExitTiming timing;
        timing.trace = ExitTraceWriter::create(path, "berth test");
        timing.timed = true;
        ExitStats stats;
        berth::machine::Buses buses;
        buses.mmio.attach(0xe0000000, 0x1000, std::make_shared<Named>());
        kvm_run run{};
        run.exit_reason = KVM_EXIT_MMIO;
        run.mmio.len = 4;
        for (const std::uint64_t address : {0xe0000010ULL, 0xe0000200ULL, 0xe0001000ULL}) {
            run.mmio.phys_addr = address;
            const ExitTimer timer(timing, run, 0, stats, buses);
        }
        timing.trace->finish();
    }
    std::ifstream in(path);
    const auto trace = nlohmann::json::parse(in);
    std::filesystem::remove(path);
    std::vector<std::string> devices;
    for (const auto& event : trace["traceEvents"]) {
        if (event["ph"] == "X") {
            devices.push_back(event["args"]["device"].get<std::string>());
        }
    }
    CHECK(devices == std::vector<std::string>{"first part", "second part", "(none)"});
}
