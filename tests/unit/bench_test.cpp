// berth bench startup's pieces that need no VM or container: phase marks, phases from
// marks, statistics, the initramfs reader, JSON round trip and the chart's bars.

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tests/unit/cpio_builder.hpp"
#include "vmm/bench/bench_result.hpp"
#include "vmm/bench/bench_svg.hpp"
#include "vmm/bench/initramfs_image.hpp"
#include "vmm/bench/sample_runner.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/phase_clock.hpp"
#include "vmm/common/temp_dir.hpp"

using namespace berth;
using namespace berth::bench;

TEST_CASE("a phase mark line is the name and the nanoseconds") {
    char buffer[96];
    CHECK(format_phase_line("vm_ready", 1234567890123, buffer) == "vm_ready 1234567890123\n");
    const std::int64_t first = monotonic_ns();
    const std::int64_t second = monotonic_ns();
    CHECK(first > 0);
    CHECK(first <= second);
}

TEST_CASE("phases are the gaps between consecutive marks and add up to the total") {
    const Sample sample = sample_from_marks({{"main", 0.002}, {"vm_ready", 0.010}, {"exit", 0.050}},
                                            {"main", "vm_ready", "exit"});
    REQUIRE(sample.phases.size() == 3);
    CHECK(sample.phases[0] == Approx(0.002));
    CHECK(sample.phases[1] == Approx(0.008));
    CHECK(sample.phases[2] == Approx(0.040));
    CHECK(sample.total == Approx(0.050));
}

TEST_CASE("a mark that comes before the previous one makes a zero phase, not a negative one") {
    // The container's rootfs can be ready before berth has joined the cgroups.
    const Sample sample = sample_from_marks({{"cgroup", 0.004}, {"rootfs", 0.003}, {"exit", 0.006}},
                                            {"cgroup", "rootfs", "exit"});
    CHECK(sample.phases[1] == 0);
    CHECK(sample.phases[2] == Approx(0.002));
    CHECK(sample.total == Approx(0.006));
}

TEST_CASE("a missing mark is an error naming it") {
    CHECK_THROWS_WITH(sample_from_marks({{"exit", 1.0}}, {"guest_init", "exit"}),
                      Catch::Contains("'guest_init' is missing"));
}

TEST_CASE("min, median and nearest-rank p95") {
    const Stats two = stats_of({3.0, 1.0});
    CHECK(two.min == 1.0);
    CHECK(two.median == 2.0);
    CHECK(two.p95 == 3.0);
    std::vector<double> hundred;
    for (int i = 1; i <= 100; ++i) {
        hundred.push_back(i);
    }
    CHECK(stats_of(hundred).p95 == 95.0);
    CHECK(stats_of(hundred).median == 50.5);
}

namespace {

std::vector<std::uint8_t> archive(bool berth_init) {
    std::vector<std::uint8_t> bytes;
    berth::test::add_cpio_entry(bytes, ".", 040755, "");
    berth::test::add_cpio_entry(bytes, "bin", 040755, "");
    berth::test::add_cpio_entry(bytes, "bin/sh", 0120777, "busybox");
    berth::test::add_cpio_entry(bytes, "init", 0100755,
                                berth_init ? "#!/bin/sh\nsh -c \"$berth_run\"\n" : "#!/bin/sh\n");
    berth::test::add_cpio_entry(bytes, "TRAILER!!!", 0, "");
    return bytes;
}

}  // namespace

TEST_CASE("an initramfs with berth's /init and a /bin/sh serves both modes and unpacks") {
    const InitramfsImage image = InitramfsImage::parse(archive(true), "test.cpio");
    CHECK(image.entries().size() == 3);
    CHECK_NOTHROW(image.check_serves_both_modes());
    const TempDir dir("berth-bench-test-");
    image.unpack(dir.path());
    CHECK(std::filesystem::read_symlink(dir.path() / "bin" / "sh") == "busybox");
    CHECK(std::filesystem::file_size(dir.path() / "init") > 10);
}

TEST_CASE("an initramfs whose /init ignores berth_run cannot serve as the VM") {
    const InitramfsImage image = InitramfsImage::parse(archive(false), "other.cpio");
    CHECK_THROWS_WITH(image.check_serves_both_modes(), Catch::Contains("cannot serve as the VM"));
}

TEST_CASE("bytes that are not a cpio archive are bad input") {
    try {
        InitramfsImage::parse(std::vector<std::uint8_t>(200, 'x'), "junk");
        FAIL("no error");
    } catch (const Error& e) {
        CHECK(e.status() == ExitStatus::bad_input);
        CHECK_THAT(e.what(), Catch::Contains("not an initramfs"));
    }
}

namespace {

BenchResult two_runtimes() {
    BenchResult result;
    result.runs = 2;
    result.workload = "echo x";
    result.kernel = "k";
    result.initrd = "i";
    result.rootfs = "r";
    Runtime ct;
    ct.name = "berth ct";
    ct.mode = "container";
    ct.phases = {{"launch", "launch"}, {"ct_exit", "exit"}};
    ct.samples.push_back(sample_from_marks({{"main", 0.002}, {"exit", 0.008}}, {"main", "exit"}));
    ct.samples.push_back(sample_from_marks({{"main", 0.003}, {"exit", 0.010}}, {"main", "exit"}));
    Runtime peer;
    peer.name = "bwrap & co";
    peer.mode = "container";
    peer.phases = {{"total", "start -> exit"}};
    peer.samples.push_back(sample_from_marks({{"exit", 0.004}}, {"exit"}));
    peer.samples.push_back(sample_from_marks({{"exit", 0.005}}, {"exit"}));
    Runtime skipped;
    skipped.name = "crun";
    skipped.mode = "container";
    skipped.skipped = "fails here: cgroups in hybrid mode not supported";
    result.runtimes = {ct, peer, skipped};
    return result;
}

}  // namespace

TEST_CASE("the JSON reads back as it was written") {
    const BenchResult result = two_runtimes();
    const BenchResult back = from_json(nlohmann::json::parse(to_json(result).dump()));
    REQUIRE(back.runtimes.size() == 3);
    CHECK(back.runtimes[0].samples[1].phases[1] == Approx(0.007));
    CHECK(back.runtimes[0].samples[1].total == Approx(0.010));
    CHECK(back.runtimes[2].skipped == result.runtimes[2].skipped);
    CHECK(to_json(back) == to_json(result));
}

TEST_CASE("the table shows each phase, the totals, the ratio to the fastest and what did not run") {
    const std::string table = format_table(two_runtimes());
    CHECK_THAT(table, Catch::Contains("berth ct"));
    CHECK_THAT(table, Catch::Contains("2.00x"));  // 9 ms median against 4.5 ms
    CHECK_THAT(table, Catch::Contains("1.00x"));
    CHECK_THAT(table, Catch::Contains("crun: fails here"));
    CHECK_THAT(table, !Catch::Contains("EMULATED"));
}

TEST_CASE("the chart has one bar per runtime that ran, one rect per phase, escaped names") {
    const std::string svg = render_svg(two_runtimes());
    auto count = [&svg](const std::string& what) {
        std::size_t n = 0;
        for (std::size_t at = svg.find(what); at != std::string::npos;
             at = svg.find(what, at + 1)) {
            ++n;
        }
        return n;
    };
    CHECK(count("<g class=\"bar\"") == 2);
    CHECK(count("<rect class=\"phase\"") == 3);
    CHECK_THAT(svg, Catch::Contains("bwrap &amp; co"));
    CHECK_THAT(svg, Catch::Contains("not run: crun"));
}

TEST_CASE("a sample can be given stdin bytes and act when its watched line appears") {
    SampleSpec spec;
    spec.argv = {"sh", "-c", "echo waiting; read line; echo got-$line"};
    spec.watch_line = "waiting";
    spec.stdin_text = "restored\n";
    int calls = 0;
    spec.on_watch_line = [&calls] { ++calls; };
    const SampleRun run = run_sample(spec);
    CHECK(run.status == 0);
    CHECK(calls == 1);
    CHECK(run.has_line("got-restored"));
    REQUIRE(run.watch_line_ns);
    CHECK(*run.watch_line_ns >= run.spawn_ns);
}

TEST_CASE("without stdin bytes a sample reads the end of its input at once") {
    SampleSpec spec;
    spec.argv = {"sh", "-c", "read line || echo no-input"};
    const SampleRun run = run_sample(spec);
    CHECK(run.status == 0);
    CHECK(run.has_line("no-input"));
}
