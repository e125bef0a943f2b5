#pragma once
// Progress of long work (image conversion, `berth image build`) for a person watching:
// on a terminal, one line on stderr redrawn in place ("berth: converting a.img: 42%
// (860 MiB of 2.0 GiB)"), at most ten times a second; numbered steps of work whose
// size is unknown, one line each. When stderr is not a terminal (a script, a pipe, a
// log file, CI) it writes nothing at all, as curl and qemu-img do: scripts read
// results, not progress. BERTH_PROGRESS=0 turns it off on a terminal too.

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace berth {

class ProgressReporter {
public:
    // `task` names the work ("converting a.img"); `total` is its size in bytes (0 when
    // the work is counted in steps). Writes to `fd` (stderr unless a test says).
    explicit ProgressReporter(std::string task, std::uint64_t total = 0, int fd = STDERR_FILENO);
    ~ProgressReporter();
    ProgressReporter(const ProgressReporter&) = delete;
    ProgressReporter& operator=(const ProgressReporter&) = delete;

    // Whether anything is shown (stderr is a terminal and BERTH_PROGRESS is not 0).
    bool active() const { return active_; }
    // `done` of `total` bytes are done; redrawn when a tenth of a second has passed.
    void update(std::uint64_t done);
    // Step `number` of `count` begins: a line "berth: TASK: [number/count] what".
    void step(unsigned number, unsigned count, std::string_view what);
    // The work is complete: the line shows 100% and ends. Without it (an error), the
    // line ends where it was, so the error message starts on a line of its own.
    void finish();

private:
    void draw(std::uint64_t done);
    void emit(std::string_view text) const;

    std::string task_;
    std::uint64_t total_ = 0;
    int fd_ = STDERR_FILENO;
    bool active_ = false;
    bool line_open_ = false;  // a redrawn line is on the screen without its newline
    std::chrono::steady_clock::time_point last_draw_{};
};

// "860 MiB", "2.0 GiB", "512 bytes": a size rounded for a person, not for parsing.
std::string approximate_size(std::uint64_t bytes);

}  // namespace berth
