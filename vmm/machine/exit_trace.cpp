#include "machine/exit_trace.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "kvm/vcpu.hpp"

namespace berth::machine {

namespace {

const char* access_name(ExitEvent::Access access) {
    switch (access) {
        case ExitEvent::Access::port_in: return "in";
        case ExitEvent::Access::port_out: return "out";
        case ExitEvent::Access::mmio_read: return "read";
        case ExitEvent::Access::mmio_write: return "write";
        case ExitEvent::Access::none: break;
    }
    return "";
}

// Trace timestamps are microseconds; keep nanosecond resolution as a fraction.
double microseconds(std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

}  // namespace

ExitEvent describe_exit(const kvm_run& run) {
    ExitEvent event;
    event.reason = run.exit_reason;
    if (run.exit_reason == KVM_EXIT_IO) {
        event.access = run.io.direction == KVM_EXIT_IO_OUT ? ExitEvent::Access::port_out
                                                            : ExitEvent::Access::port_in;
        event.address = run.io.port;
        event.size = run.io.size;
        event.count = run.io.count;
    } else if (run.exit_reason == KVM_EXIT_MMIO) {
        event.access = run.mmio.is_write != 0 ? ExitEvent::Access::mmio_write
                                              : ExitEvent::Access::mmio_read;
        event.address = run.mmio.phys_addr;
        event.size = run.mmio.len;
        event.count = 1;
    }
    return event;
}

std::unique_ptr<ExitTraceWriter> ExitTraceWriter::create(const std::filesystem::path& path,
                                                         std::string_view process_name) {
    std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "w"));
    if (!file) {
        const int err = errno;
        throw bad_input(fmt::format("--trace {}: cannot create the file: {}; give a writable path",
                                    path.string(), std::strerror(err)));
    }
    return std::unique_ptr<ExitTraceWriter>(
        new ExitTraceWriter(path, std::move(file), process_name));
}

ExitTraceWriter::ExitTraceWriter(std::filesystem::path path,
                                 std::unique_ptr<std::FILE, FileCloser> file,
                                 std::string_view process_name)
    : path_(std::move(path)), file_(std::move(file)), pid_(static_cast<std::uint32_t>(::getpid())) {
    // A big buffer: one write(2) per few thousand events, not one per exit.
    std::setvbuf(file_.get(), nullptr, _IOFBF, 1 << 20);
    std::fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n", file_.get());
    const nlohmann::json process = {{"name", "process_name"},
                                    {"ph", "M"},
                                    {"pid", pid_},
                                    {"tid", 0},
                                    {"args", {{"name", std::string(process_name)}}}};
    append(process.dump());
}

ExitTraceWriter::~ExitTraceWriter() {
    try {
        finish();
    } catch (const Error&) {
        // Destructors must not throw; finish() was the place to report it.
    }
}

void ExitTraceWriter::append(const std::string& event_json) {
    if (!first_) {
        std::fputs(",\n", file_.get());
    }
    first_ = false;
    std::fputs(event_json.c_str(), file_.get());
}

void ExitTraceWriter::add_vcpu(std::uint32_t vcpu) {
    const nlohmann::json thread = {{"name", "thread_name"},
                                   {"ph", "M"},
                                   {"pid", pid_},
                                   {"tid", vcpu},
                                   {"args", {{"name", fmt::format("vCPU {}", vcpu)}}}};
    const std::string text = thread.dump();
    const std::lock_guard lock(mutex_);
    if (file_) {
        append(text);
    }
}

void ExitTraceWriter::record(const ExitEvent& event) {
    const char* reason = kvm::exit_reason_name(event.reason);
    nlohmann::json args = {{"reason", reason}};
    std::string name = reason;
    if (event.access != ExitEvent::Access::none) {
        const bool is_port = event.access == ExitEvent::Access::port_in ||
                             event.access == ExitEvent::Access::port_out;
        name = fmt::format("{} {} {:#x}", reason, access_name(event.access), event.address);
        args[is_port ? "port" : "address"] = fmt::format("{:#x}", event.address);
        args["direction"] = access_name(event.access);
        args["size"] = event.size;
        if (event.count > 1) {
            args["count"] = event.count;
        }
        args["device"] = event.device.empty() ? "(none)" : std::string(event.device);
    }
    const nlohmann::json json = {{"name", std::move(name)},
                                 {"cat", "exit"},
                                 {"ph", "X"},
                                 {"ts", microseconds(event.start_ns)},
                                 {"dur", microseconds(event.duration_ns)},
                                 {"pid", pid_},
                                 {"tid", event.vcpu},
                                 {"args", std::move(args)}};
    const std::string text = json.dump();
    const std::lock_guard lock(mutex_);
    if (file_) {
        append(text);
        ++exits_;
    }
}

void ExitTraceWriter::finish() {
    const std::lock_guard lock(mutex_);
    if (!file_) {
        return;
    }
    std::fputs("\n]}\n", file_.get());
    errno = 0;
    bool failed = std::fflush(file_.get()) != 0 || std::ferror(file_.get()) != 0;
    int err = errno;
    // fclose can fail too; either way the handle is gone afterwards.
    if (std::fclose(file_.release()) != 0 && !failed) {
        failed = true;
        err = errno;
    }
    if (failed) {
        throw_errno(fmt::format("cannot write the exit trace {}", path_.string()),
                    err != 0 ? err : EIO);
    }
}

}  // namespace berth::machine
