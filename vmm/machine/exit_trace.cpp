#include "vmm/machine/exit_trace.hpp"

#include <stdio.h>  // fdopen
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "vmm/common/error.hpp"
#include "vmm/common/file.hpp"
#include "vmm/kvm/vcpu.hpp"

namespace berth::machine {

namespace {

const char* access_name(ExitEvent::Access access) {
    switch (access) {
        case ExitEvent::Access::port_in:
            return "in";
        case ExitEvent::Access::port_out:
            return "out";
        case ExitEvent::Access::mmio_read:
            return "read";
        case ExitEvent::Access::mmio_write:
            return "write";
        case ExitEvent::Access::none:
            break;
    }
    return "";
}

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
        event.access =
            run.mmio.is_write != 0 ? ExitEvent::Access::mmio_write : ExitEvent::Access::mmio_read;
        event.address = run.mmio.phys_addr;
        event.size = run.mmio.len;
        event.count = 1;
    }
    return event;
}

std::unique_ptr<ExitTraceWriter> ExitTraceWriter::create(const std::filesystem::path& path,
                                                         std::string_view process_name) {
    OutputFile output = OutputFile::create(path, "trace file");
    // stdio buffers the events; it writes to the temporary file through its own
    // descriptor, and `output` renames that file over the target once complete.
    std::unique_ptr<std::FILE, FileCloser> file(::fdopen(::dup(output.fd()), "w"));
    if (!file) {
        throw_errno(fmt::format("trace file {}: fdopen", path.string()), errno);
    }
    return std::unique_ptr<ExitTraceWriter>(
        new ExitTraceWriter(std::move(output), std::move(file), process_name));
}

ExitTraceWriter::ExitTraceWriter(OutputFile output, std::unique_ptr<std::FILE, FileCloser> file,
                                 std::string_view process_name)
    : output_(std::move(output)),
      file_(std::move(file)),
      pid_(static_cast<std::uint32_t>(::getpid())) {
    // A big buffer: one write(2) per few thousand events, not one per exit.
    std::setvbuf(file_.get(), nullptr, _IOFBF, 1 << 20);
    std::fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n", file_.get());
    const nlohmann::json process = {{"name", "process_name"},
                                    {"ph", "M"},
                                    {"pid", pid_},
                                    {"tid", 0},
                                    {"args", {{"name", std::string(process_name)}}}};
    // The name holds a file name, which need not be UTF-8: replace what is not.
    append(process.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

// Not finished, the trace is dropped: the run failed before the guest ran, and the
// file the user named (if any) stays as it was.
ExitTraceWriter::~ExitTraceWriter() = default;

void ExitTraceWriter::append(std::string_view event_json) {
    if (!first_) {
        std::fputs(",\n", file_.get());
    }
    first_ = false;
    std::fwrite(event_json.data(), 1, event_json.size(), file_.get());
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

std::string ExitTraceWriter::quoted(std::string_view text) {
    // Device names are ours, but escape them properly anyway; a handful of distinct
    // names, so each is escaped once.
    auto it = quoted_.find(text);
    if (it == quoted_.end()) {
        it = quoted_
                 .emplace(std::string(text),
                          nlohmann::json(std::string(text))
                              .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
                 .first;
    }
    return it->second;
}

void ExitTraceWriter::record(const ExitEvent& event) {
    // The hot path of a traced run, so formatted directly rather than through a json
    // object (which costs several microseconds per event: as much as the exit itself).
    // Every string in it is ours and needs no escaping except the device name.
    const char* reason = kvm::exit_reason_name(event.reason);
    fmt::memory_buffer text;
    auto out = std::back_inserter(text);
    if (event.access == ExitEvent::Access::none) {
        fmt::format_to(out, R"({{"name":"{}",)", reason);
    } else {
        fmt::format_to(out, R"({{"name":"{} {} {:#x}",)", reason, access_name(event.access),
                       event.address);
    }
    // Timestamps are microseconds; nanoseconds become three decimals, written from
    // integers (formatting a double with a precision is several times slower).
    fmt::format_to(out, R"("cat":"exit","ph":"X","ts":{}.{:03},"dur":{}.{:03},"pid":{},"tid":{},)",
                   event.start_ns / 1000, event.start_ns % 1000, event.duration_ns / 1000,
                   event.duration_ns % 1000, pid_, event.vcpu);
    fmt::format_to(out, R"("args":{{"reason":"{}")", reason);
    const std::lock_guard lock(mutex_);
    if (!file_) {
        return;
    }
    if (event.access != ExitEvent::Access::none) {
        const bool is_port = event.access == ExitEvent::Access::port_in ||
                             event.access == ExitEvent::Access::port_out;
        fmt::format_to(out, R"(,"{}":"{:#x}","direction":"{}","size":{})",
                       is_port ? "port" : "address", event.address, access_name(event.access),
                       event.size);
        if (event.count > 1) {
            fmt::format_to(out, R"(,"count":{})", event.count);
        }
        fmt::format_to(out, R"(,"device":{})",
                       quoted(event.device.empty() ? "(none)" : event.device));
    }
    fmt::format_to(out, "}}}}");
    append(std::string_view(text.data(), text.size()));
    ++exits_;
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
        throw_errno(fmt::format("cannot write the exit trace {}", output_.path().string()),
                    err != 0 ? err : EIO);
    }
    output_.commit();
}

}  // namespace berth::machine
