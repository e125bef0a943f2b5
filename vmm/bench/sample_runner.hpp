#pragma once
// Runs one sample of the startup benchmark: starts a command (berth or a peer) with
// stdin from /dev/null (or a pipe holding a few given bytes), stdout and stderr captured, and, for
// berth, a pipe for its phase marks (BERTH_PHASES, see common/phase_clock.hpp). Everything is timed
// on CLOCK_MONOTONIC, the clock berth's marks use: the moment just before the command is spawned,
// when stdout first carries a byte, when a given line first appears on stdout, and when the process
// exits (seen through a pidfd, so a descriptor some descendant keeps open does not delay it).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace berth::bench {

struct SampleSpec {
    std::vector<std::string> argv;  // argv[0] is a path or looked up in PATH
    bool record_phases = false;     // give the command BERTH_PHASES
    double timeout_seconds = 60;    // then the command is killed
    std::string watch_line;         // stdout line whose first appearance is timed
    // Called once when watch_line first appears, while the command runs (the benchmark
    // snapshots a guest there); the command's output waits in its pipes meanwhile.
    std::function<void()> on_watch_line;
    // When not empty: stdin is a pipe that holds these bytes and then ends (a restored
    // guest's console line); at most a pipe's buffer (4 KiB is always safe).
    std::string stdin_text;
};

struct SampleRun {
    int status = -1;  // exit status, 128+N for signal N
    bool timed_out = false;
    std::int64_t spawn_ns = 0;
    std::int64_t exit_ns = 0;
    std::optional<std::int64_t> first_output_ns;
    std::optional<std::int64_t> watch_line_ns;
    std::vector<std::pair<std::string, std::int64_t>> marks;  // in arrival order
    std::string output;                                       // stdout
    std::string errors;                                       // stderr

    // Whether stdout holds `line` as a whole line (CR before LF allowed).
    bool has_line(std::string_view line) const;
    // The last non-empty stderr line, else the last stdout line: for "why it failed".
    std::string last_words() const;
};

// Spawns and waits. Throws only when the command cannot be started at all.
SampleRun run_sample(const SampleSpec& spec);

}  // namespace berth::bench
