#pragma once
// What `berth bench startup` measured, and its three renderings: the terminal table,
// the JSON file with every sample, and (bench_svg.hpp) the chart. Times are seconds.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace berth::bench {

struct Phase {
    std::string id;     // "kernel_boot"
    std::string label;  // "kernel boot: first vCPU entry -> first console byte"
};

struct Sample {
    std::vector<double> phases;  // one per Runtime::phases, each >= 0
    double total = 0;            // spawn -> exit; the phases add up to it
    // Raw marks, seconds after spawn, as berth or the observer recorded them.
    std::vector<std::pair<std::string, double>> marks;
    int retries =
        0;  // timed-out attempts before this one (the rig's nested guests hang now and then)
};

struct Runtime {
    std::string name;       // "berth vm", "qemu microvm", "berth ct", "runc", "crun", "bwrap"
    std::string mode;       // "vm" or "container"
    bool emulated = false;  // ran in the rig: an emulated machine, 50-100x slower
    std::string how;        // how its phases were observed
    std::vector<std::string> command;
    std::vector<Phase> phases;
    std::vector<Sample> samples;
    std::string skipped;  // why it did not run; empty when it ran

    bool ran() const { return skipped.empty() && !samples.empty(); }
};

struct BenchResult {
    int runs = 0;
    std::string workload;  // the shell command both modes run
    std::string kernel;
    std::string initrd;
    std::string rootfs;   // what the containers ran from (description)
    std::string vm_note;  // empty, or why the VM times are emulated
    std::vector<Runtime> runtimes;
};

// Phase durations from marks (seconds after spawn, `exit` last): phase i ends at
// mark `ends[i]`. berth moves the container into its cgroups while init builds the
// rootfs, so marks can come out of order; each phase then ends at the later of its
// own mark and the previous end, i.e. the phase counts only the time it kept the
// start-up waiting. Throws Error naming a missing mark.
Sample sample_from_marks(const std::vector<std::pair<std::string, double>>& marks,
                         const std::vector<std::string>& ends);

struct Stats {
    double min = 0;
    double median = 0;
    double p95 = 0;  // nearest rank
};
Stats stats_of(std::vector<double> values);

// The terminal table: per runtime, min/median/p95 of each phase and of the total, and
// each runtime's median total as a multiple of the fastest comparable one (the same
// clock: emulated VM rows are compared among themselves).
std::string format_table(const BenchResult& result);

nlohmann::json to_json(const BenchResult& result);
// Reads what to_json wrote (the VM half comes back from the rig that way).
BenchResult from_json(const nlohmann::json& json);

}  // namespace berth::bench
