#include "vmm/bench/bench_result.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"

namespace berth::bench {

Sample sample_from_marks(const std::vector<std::pair<std::string, double>>& marks,
                         const std::vector<std::string>& ends) {
    Sample sample;
    sample.marks = marks;
    double previous = 0;
    for (const auto& end : ends) {
        const auto found = std::find_if(marks.begin(), marks.end(),
                                        [&](const auto& mark) { return mark.first == end; });
        if (found == marks.end()) {
            throw Error(fmt::format("phase mark {} is missing", quote(end)));
        }
        const double at = std::max(found->second, previous);
        sample.phases.push_back(at - previous);
        previous = at;
    }
    sample.total = previous;
    return sample;
}

Stats stats_of(std::vector<double> values) {
    Stats stats;
    if (values.empty()) {
        return stats;
    }
    std::sort(values.begin(), values.end());
    const std::size_t n = values.size();
    stats.min = values.front();
    stats.median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
    const auto rank = static_cast<std::size_t>(std::ceil(0.95 * static_cast<double>(n)));
    stats.p95 = values[std::max<std::size_t>(rank, 1) - 1];
    return stats;
}

namespace {

std::string ms(double seconds) {
    return fmt::format("{:.2f} ms", seconds * 1000);
}

std::vector<double> column(const Runtime& runtime, std::optional<std::size_t> phase) {
    std::vector<double> values;
    for (const auto& sample : runtime.samples) {
        values.push_back(phase ? sample.phases.at(*phase) : sample.total);
    }
    return values;
}

}  // namespace

std::string format_table(const BenchResult& result) {
    std::string out = fmt::format("berth bench startup: `{}`, {} run{} each\n", result.workload,
                                  result.runs, result.runs == 1 ? "" : "s");
    out += fmt::format("  VM: kernel {}, initrd {}\n  containers: {}\n", result.kernel,
                       result.initrd, result.rootfs);
    if (!result.vm_note.empty()) {
        out += fmt::format("  VM TIMES ARE EMULATED (rows marked *): {}\n", result.vm_note);
    }
    // The fastest median total among runtimes that share a clock.
    const auto fastest = [&](bool emulated) {
        double best = std::numeric_limits<double>::infinity();
        for (const auto& runtime : result.runtimes) {
            if (runtime.ran() && runtime.emulated == emulated) {
                best = std::min(best, stats_of(column(runtime, std::nullopt)).median);
            }
        }
        return best;
    };
    std::size_t label_width = 5;
    for (const auto& runtime : result.runtimes) {
        for (const auto& phase : runtime.phases) {
            label_width = std::max(label_width, phase.label.size());
        }
    }
    out += fmt::format("\n{:<19}{:<{}} {:>12} {:>12} {:>12}  {}\n", "runtime", "phase", label_width,
                       "min", "median", "p95", "vs fastest");
    for (const auto& runtime : result.runtimes) {
        if (!runtime.ran()) {
            continue;
        }
        const std::string name = runtime.name + (runtime.emulated ? " *" : "");
        // A runtime seen only from outside has one phase: its total says it all.
        for (std::size_t i = 0; runtime.phases.size() > 1 && i < runtime.phases.size(); ++i) {
            const Stats s = stats_of(column(runtime, i));
            out += fmt::format("{:<19}{:<{}} {:>12} {:>12} {:>12}\n", i == 0 ? name : "",
                               runtime.phases[i].label, label_width, ms(s.min), ms(s.median),
                               ms(s.p95));
        }
        const Stats total = stats_of(column(runtime, std::nullopt));
        out +=
            fmt::format("{:<19}{:<{}} {:>12} {:>12} {:>12}  {:.2f}x\n",
                        runtime.phases.size() == 1 ? name : "", "total", label_width, ms(total.min),
                        ms(total.median), ms(total.p95), total.median / fastest(runtime.emulated));
    }
    bool any_skipped = false;
    for (const auto& runtime : result.runtimes) {
        if (!runtime.ran()) {
            if (!any_skipped) {
                out += "\nnot run:\n";
                any_skipped = true;
            }
            out += fmt::format("  {}: {}\n", runtime.name,
                               runtime.skipped.empty() ? "no samples" : runtime.skipped);
        }
    }
    if (!result.vm_note.empty()) {
        out +=
            "\n* emulated in tools/kvm-rig: compare * rows only with each other (the ratio column "
            "does)\n";
    }
    return out;
}

nlohmann::json to_json(const BenchResult& result) {
    nlohmann::json runtimes = nlohmann::json::array();
    for (const auto& runtime : result.runtimes) {
        nlohmann::json phases = nlohmann::json::array();
        for (const auto& phase : runtime.phases) {
            phases.push_back({{"id", phase.id}, {"label", phase.label}});
        }
        nlohmann::json samples = nlohmann::json::array();
        for (const auto& sample : runtime.samples) {
            nlohmann::json by_phase = nlohmann::json::object();
            for (std::size_t i = 0; i < runtime.phases.size(); ++i) {
                by_phase[runtime.phases[i].id] = sample.phases.at(i);
            }
            nlohmann::json marks = nlohmann::json::array();
            for (const auto& [name, at] : sample.marks) {
                marks.push_back({{"name", name}, {"at", at}});
            }
            samples.push_back({{"phases", by_phase},
                               {"total", sample.total},
                               {"marks", marks},
                               {"retries", sample.retries}});
        }
        nlohmann::json entry = {
            {"name", runtime.name}, {"mode", runtime.mode},       {"emulated", runtime.emulated},
            {"how", runtime.how},   {"command", runtime.command}, {"phases", phases},
            {"samples", samples}};
        if (!runtime.skipped.empty()) {
            entry["skipped"] = runtime.skipped;
        }
        runtimes.push_back(entry);
    }
    return {{"tool", "berth bench startup"}, {"units", "seconds"},        {"runs", result.runs},
            {"workload", result.workload},   {"kernel", result.kernel},   {"initrd", result.initrd},
            {"rootfs", result.rootfs},       {"vm_note", result.vm_note}, {"runtimes", runtimes}};
}

BenchResult from_json(const nlohmann::json& json) {
    BenchResult result;
    result.runs = json.at("runs").get<int>();
    result.workload = json.at("workload").get<std::string>();
    result.kernel = json.at("kernel").get<std::string>();
    result.initrd = json.at("initrd").get<std::string>();
    result.rootfs = json.at("rootfs").get<std::string>();
    result.vm_note = json.at("vm_note").get<std::string>();
    for (const auto& entry : json.at("runtimes")) {
        Runtime runtime;
        runtime.name = entry.at("name").get<std::string>();
        runtime.mode = entry.at("mode").get<std::string>();
        runtime.emulated = entry.at("emulated").get<bool>();
        runtime.how = entry.at("how").get<std::string>();
        runtime.command = entry.at("command").get<std::vector<std::string>>();
        runtime.skipped = entry.value("skipped", "");
        for (const auto& phase : entry.at("phases")) {
            runtime.phases.push_back(
                {phase.at("id").get<std::string>(), phase.at("label").get<std::string>()});
        }
        for (const auto& saved : entry.at("samples")) {
            Sample sample;
            for (const auto& phase : runtime.phases) {
                sample.phases.push_back(saved.at("phases").at(phase.id).get<double>());
            }
            sample.total = saved.at("total").get<double>();
            for (const auto& mark : saved.at("marks")) {
                sample.marks.emplace_back(mark.at("name").get<std::string>(),
                                          mark.at("at").get<double>());
            }
            sample.retries = saved.value("retries", 0);
            runtime.samples.push_back(std::move(sample));
        }
        result.runtimes.push_back(std::move(runtime));
    }
    return result;
}

}  // namespace berth::bench
