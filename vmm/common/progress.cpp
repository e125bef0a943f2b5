#include "vmm/common/progress.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

namespace berth {

namespace {

constexpr auto redraw_interval = std::chrono::milliseconds(100);

// Whether the person at the terminal wants progress: BERTH_PROGRESS=0 says no.
bool progress_wanted(int fd) {
    const char* setting = std::getenv("BERTH_PROGRESS");
    if (setting != nullptr && std::strcmp(setting, "0") == 0) {
        return false;
    }
    return isatty(fd) == 1;
}

}  // namespace

std::string approximate_size(std::uint64_t bytes) {
    constexpr const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    if (bytes < 1024) {
        return fmt::format("{} bytes", bytes);
    }
    double value = static_cast<double>(bytes) / 1024;
    std::size_t unit = 0;
    while (value >= 1024 && unit + 1 < std::size(units)) {
        value /= 1024;
        ++unit;
    }
    // Three significant digits are enough to watch; below 10 one decimal says more.
    return value < 10 ? fmt::format("{:.1f} {}", value, units[unit])
                      : fmt::format("{:.0f} {}", value, units[unit]);
}

ProgressReporter::ProgressReporter(std::string task, std::uint64_t total, int fd)
    : task_(std::move(task)), total_(total), fd_(fd), active_(progress_wanted(fd)) {}

ProgressReporter::~ProgressReporter() {
    if (line_open_) {
        emit("\n");
    }
}

void ProgressReporter::update(std::uint64_t done) {
    if (!active_) {
        return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (line_open_ && now - last_draw_ < redraw_interval) {
        return;
    }
    last_draw_ = now;
    draw(done);
}

void ProgressReporter::step(unsigned number, unsigned count, std::string_view what) {
    if (!active_) {
        return;
    }
    if (line_open_) {
        emit("\n");
        line_open_ = false;
    }
    emit(fmt::format("berth: {}: [{}/{}] {}\n", task_, number, count, what));
}

void ProgressReporter::finish() {
    if (!active_) {
        return;
    }
    if (total_ > 0) {
        draw(total_);
    }
    if (line_open_) {
        emit("\n");
        line_open_ = false;
    }
}

void ProgressReporter::draw(std::uint64_t done) {
    const std::uint64_t percent = total_ == 0 ? 100 : done * 100 / total_;
    // \r back to the line's start, \e[K clears what a longer previous text left.
    emit(fmt::format("\rberth: {}: {}% ({} of {})\x1b[K", task_, percent, approximate_size(done),
                     approximate_size(total_)));
    line_open_ = true;
}

void ProgressReporter::emit(std::string_view text) const {
    // Progress is a courtesy: a terminal that went away (EIO) or a full pipe never
    // fails the work it describes.
    while (!text.empty()) {
        const ssize_t written = ::write(fd_, text.data(), text.size());
        if (written < 0 && errno == EINTR) {
            continue;
        }
        if (written <= 0) {
            return;
        }
        text.remove_prefix(static_cast<std::size_t>(written));
    }
}

}  // namespace berth
