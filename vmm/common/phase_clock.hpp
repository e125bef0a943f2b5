#pragma once
// Phase marks for `berth bench startup`: when BERTH_PHASES names an open file
// descriptor (a number) or a file, every `phase_mark("name")` writes one line
// "name NANOSECONDS\n" there, NANOSECONDS being CLOCK_MONOTONIC. Each line is one
// write(2) of less than PIPE_BUF bytes, so the lines of several threads and processes
// (the container's init and command are clones of berth that inherit the descriptor)
// never interleave. CLOCK_MONOTONIC is one clock for the whole host: pid and user
// namespaces do not change it (berth creates no time namespace), and the benchmark
// reads the same clock when it starts berth and when berth exits.
//
// Without BERTH_PHASES a mark is one test of a flag: normal runs pay nothing.

#include <atomic>
#include <cstdint>
#include <string_view>

namespace berth {

// CLOCK_MONOTONIC in nanoseconds.
std::int64_t monotonic_ns();

// Writes a mark now if recording is on (BERTH_PHASES, read once per process).
void phase_mark(std::string_view name);

// Whether BERTH_PHASES turned recording on.
bool phases_enabled();

// A mark for the first time something happens (the first vCPU entry, the first
// console byte): later calls cost one atomic load.
class FirstPhaseMark {
public:
    explicit constexpr FirstPhaseMark(std::string_view name) : name_(name) {}
    void mark() {
        if (!done_.load(std::memory_order_relaxed) && !done_.exchange(true)) {
            phase_mark(name_);
        }
    }

private:
    std::string_view name_;
    std::atomic<bool> done_{false};
};

// The text of one mark line, for the recorder and its reader: "name 123\n". Names are
// single words (no blanks).
std::string_view format_phase_line(std::string_view name, std::int64_t ns, char (&buffer)[96]);

}  // namespace berth
