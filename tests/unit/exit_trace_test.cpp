#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <nlohmann/json.hpp>

#include "vmm/common/error.hpp"
#include "vmm/machine/exit_stats.hpp"
#include "vmm/machine/exit_trace.hpp"

using berth::machine::describe_exit;
using berth::machine::ExitEvent;
using berth::machine::ExitStats;
using berth::machine::ExitTraceWriter;

namespace {

// A scratch file removed at the end of the test.
struct TempFile {
    std::filesystem::path path;
    TempFile() {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "berth-trace-XXXXXX").string();
        const int fd = ::mkstemp(pattern.data());
        REQUIRE(fd >= 0);
        ::close(fd);
        path = pattern;
    }
    ~TempFile() { std::filesystem::remove(path); }
    nlohmann::json parse() const {
        std::ifstream in(path);
        return nlohmann::json::parse(in);
    }
};

}  // namespace

TEST_CASE("exit trace: Chrome trace-event JSON with one X event per exit", "[trace]") {
    TempFile file;
    {
        auto writer = ExitTraceWriter::create(file.path, "berth firmware hello.bin");
        writer->add_vcpu(0);
        ExitEvent io;
        io.reason = KVM_EXIT_IO;
        io.start_ns = 1500;
        io.duration_ns = 2250;
        io.access = ExitEvent::Access::port_out;
        io.address = 0x3f8;
        io.size = 1;
        io.count = 1;
        io.device = "serial 8250 (COM1)";
        writer->record(io);
        ExitEvent mmio;
        mmio.vcpu = 1;
        mmio.reason = KVM_EXIT_MMIO;
        mmio.start_ns = 5000;
        mmio.duration_ns = 700;
        mmio.access = ExitEvent::Access::mmio_read;
        mmio.address = 0xd0001000;
        mmio.size = 4;
        writer->record(mmio);
        ExitEvent hlt;
        hlt.reason = KVM_EXIT_HLT;
        hlt.start_ns = 9000;
        writer->record(hlt);
        CHECK(writer->exits_recorded() == 3);
        writer->finish();
        writer->finish();  // idempotent
    }
    const auto json = file.parse();
    REQUIRE(json.contains("traceEvents"));
    const auto& events = json["traceEvents"];
    REQUIRE(events.size() == 5);  // process name, vCPU 0 name, three exits

    CHECK(events[0]["ph"] == "M");
    CHECK(events[0]["name"] == "process_name");
    CHECK(events[0]["args"]["name"] == "berth firmware hello.bin");
    CHECK(events[1]["name"] == "thread_name");
    CHECK(events[1]["tid"] == 0);
    CHECK(events[1]["args"]["name"] == "vCPU 0");

    const auto& io = events[2];
    CHECK(io["ph"] == "X");
    CHECK(io["cat"] == "exit");
    CHECK(io["name"] == "IO out 0x3f8");
    CHECK(io["ts"].get<double>() == Approx(1.5));  // microseconds
    CHECK(io["dur"].get<double>() == Approx(2.25));
    CHECK(io["pid"] == events[0]["pid"]);
    CHECK(io["tid"] == 0);
    CHECK(io["args"]["reason"] == "IO");
    CHECK(io["args"]["port"] == "0x3f8");
    CHECK(io["args"]["direction"] == "out");
    CHECK(io["args"]["size"] == 1);
    CHECK(io["args"]["device"] == "serial 8250 (COM1)");
    CHECK_FALSE(io["args"].contains("count"));

    const auto& mmio = events[3];
    CHECK(mmio["name"] == "MMIO read 0xd0001000");
    CHECK(mmio["tid"] == 1);
    CHECK(mmio["args"]["address"] == "0xd0001000");
    CHECK(mmio["args"]["device"] == "(none)");

    const auto& hlt = events[4];
    CHECK(hlt["name"] == "HLT");
    CHECK(hlt["dur"].get<double>() == 0.0);
    CHECK(hlt["args"] == nlohmann::json{{"reason", "HLT"}});
}

TEST_CASE("exit trace: dropped unfinished, the file it names stays as it was", "[trace]") {
    TempFile file;
    { std::ofstream(file.path) << "the user's data\n"; }
    {
        auto writer = ExitTraceWriter::create(file.path, "x \"quoted\"");
        ExitEvent event;
        event.reason = KVM_EXIT_SHUTDOWN;
        writer->record(event);
    }
    std::ifstream in(file.path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(text == "the user's data\n");
    // ... and no temporary file is left beside it.
    for (const auto& entry : std::filesystem::directory_iterator(file.path.parent_path())) {
        CHECK_FALSE(entry.path().filename().string().starts_with(
            "." + file.path.filename().string() + ".berth-"));
    }
}

TEST_CASE("exit trace: a process name that is not UTF-8 is written, replaced", "[trace]") {
    TempFile file;
    auto writer = ExitTraceWriter::create(file.path, "berth linux \xff\xfe.img");
    writer->finish();
    const auto json = file.parse();
    CHECK(json["traceEvents"][0]["args"]["name"].get<std::string>().starts_with("berth linux "));
}

TEST_CASE("exit trace: an uncreatable path is bad input", "[trace]") {
    try {
        ExitTraceWriter::create("/nonexistent-berth-dir/trace.json", "x");
        FAIL("no error");
    } catch (const berth::Error& e) {
        CHECK(e.status() == berth::ExitStatus::bad_input);
        CHECK_THAT(e.what(), Catch::Contains("/nonexistent-berth-dir/trace.json"));
    }
}

TEST_CASE("describe_exit reads port I/O and MMIO details from kvm_run", "[trace]") {
    kvm_run run{};
    run.exit_reason = KVM_EXIT_IO;
    run.io.direction = KVM_EXIT_IO_IN;
    run.io.port = 0x3fd;
    run.io.size = 1;
    run.io.count = 3;
    auto event = describe_exit(run);
    CHECK(event.access == ExitEvent::Access::port_in);
    CHECK(event.address == 0x3fd);
    CHECK(event.count == 3);

    run = kvm_run{};
    run.exit_reason = KVM_EXIT_MMIO;
    run.mmio.phys_addr = 0xd0000004;
    run.mmio.len = 1;
    run.mmio.is_write = 1;
    event = describe_exit(run);
    CHECK(event.access == ExitEvent::Access::mmio_write);
    CHECK(event.address == 0xd0000004);
    CHECK(event.size == 1);

    run = kvm_run{};
    run.exit_reason = KVM_EXIT_HLT;
    CHECK(describe_exit(run).access == ExitEvent::Access::none);
}

TEST_CASE("exit stats: timed tables keep `reason count` first, add total and mean", "[exits]") {
    ExitStats stats;
    stats.count_exit(KVM_EXIT_IO);
    stats.count_exit(KVM_EXIT_IO);
    stats.add_time(KVM_EXIT_IO, 3000);
    stats.add_time(KVM_EXIT_IO, 1000);
    stats.count_mmio(0xd0000000, berth::machine::MmioDirection::read, "mmio echo");
    ExitStats other;
    other.count_exit(KVM_EXIT_IO);
    other.add_time(KVM_EXIT_IO, 2000);
    stats.merge(other);
    CHECK(stats.total_time_ns(KVM_EXIT_IO) == 6000);
    CHECK(stats.mmio_accesses(0xd0000000, berth::machine::MmioDirection::read) == 1);
    const std::string table = stats.table();
    CHECK_THAT(table, Catch::Contains("total_us"));
    CHECK_THAT(table, Catch::Contains("mean_us"));
    // awk '$1 == "IO" { print $2 }' must still find the count; then total 6.0, mean 2.00.
    CHECK_THAT(table, Catch::Matches("(.|\n)*\n  IO +3 +6\\.0 +2\\.00\n(.|\n)*"));
    CHECK_THAT(table, Catch::Contains("0xd0000000"));
    CHECK_THAT(table, Catch::Contains("mmio echo"));

    ExitStats untimed;
    untimed.count_exit(KVM_EXIT_HLT);
    CHECK_THAT(untimed.table(), !Catch::Contains("total_us"));
}
