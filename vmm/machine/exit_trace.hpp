#pragma once
// The exit trace: every VM exit as one event in the Chrome trace-event JSON format,
// which Perfetto (ui.perfetto.dev) and chrome://tracing open. Each vCPU is a thread
// row; each exit is a complete ("X") event whose start is when KVM_RUN returned to
// berth and whose duration is the time berth spent handling it, until it called
// KVM_RUN again. The gaps between events are the time the guest ran (plus KVM's own
// work in the kernel).
//
// Events are written as they happen (bounded memory for long runs), to a temporary
// file that finish() closes with valid JSON and renames over the path given. Timing costs two
// clock reads per exit, so the vCPU loop reads the clock only when a trace or the
// --trace-exits table was asked for.

#include "vmm/common/file.hpp"
#include "vmm/kvm/kvm_abi.hpp"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace berth::machine {

// Nanoseconds since the machine started; the one time base for traces and tables.
class ExitClock {
public:
    ExitClock() : origin_(std::chrono::steady_clock::now()) {}
    std::uint64_t now_ns() const {
        return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                              std::chrono::steady_clock::now() - origin_)
                                              .count());
    }

private:
    std::chrono::steady_clock::time_point origin_;
};

// What one exit was about, read from the kvm_run area after the exit.
struct ExitEvent {
    enum class Access { none, port_in, port_out, mmio_read, mmio_write };

    std::uint32_t vcpu = 0;
    std::uint32_t reason = 0;  // KVM_EXIT_*
    std::uint64_t start_ns = 0;
    std::uint64_t duration_ns = 0;
    Access access = Access::none;
    std::uint64_t address = 0;  // the port, or the guest-physical address
    std::uint32_t size = 0;     // bytes per access
    std::uint32_t count = 0;    // accesses (string port I/O repeats)
    std::string_view device;    // who answered; empty when nobody did
};

// Fills reason and access details from `run` (vcpu, times and device are the caller's).
ExitEvent describe_exit(const kvm_run& run);

class ExitTraceWriter {
public:
    // Starts a trace for `path` (OutputFile: written beside it, renamed over it by
    // finish()). A path that cannot be created, or that is one of the run's inputs, is
    // bad input; this runs before the VM is built, so the user learns it at once.
    static std::unique_ptr<ExitTraceWriter> create(const std::filesystem::path& path,
                                                   std::string_view process_name);
    ~ExitTraceWriter();
    ExitTraceWriter(const ExitTraceWriter&) = delete;
    ExitTraceWriter& operator=(const ExitTraceWriter&) = delete;

    // Names vCPU `vcpu`'s row ("vCPU 0").
    void add_vcpu(std::uint32_t vcpu);
    // Appends one exit. Safe to call from several vCPU threads.
    void record(const ExitEvent& event);
    // Closes the JSON and the file and puts it at its path; throws when the data could
    // not be written (disk full). Later calls do nothing. Destroyed unfinished, the trace
    // is dropped.
    void finish();

    std::uint64_t exits_recorded() const { return exits_; }
    const std::filesystem::path& path() const { return output_.path(); }

private:
    struct FileCloser {
        void operator()(std::FILE* file) const { std::fclose(file); }
    };
    ExitTraceWriter(OutputFile output, std::unique_ptr<std::FILE, FileCloser> file,
                    std::string_view process_name);
    void append(std::string_view event_json);
    std::string quoted(std::string_view text);  // as a JSON string literal; under mutex_

    OutputFile output_;
    std::unique_ptr<std::FILE, FileCloser> file_;
    std::mutex mutex_;
    std::uint32_t pid_;
    bool first_ = true;
    std::uint64_t exits_ = 0;
    std::map<std::string, std::string, std::less<>> quoted_;
};

}  // namespace berth::machine
