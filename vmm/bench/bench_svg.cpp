#include "vmm/bench/bench_svg.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

namespace berth::bench {

namespace {

constexpr int width = 960;
constexpr int left = 150;   // runtime names
constexpr int right = 110;  // total labels
constexpr int bar_height = 26;
constexpr int bar_gap = 12;

// Distinct on white (Okabe-Ito's colour-blind-safe set first, then Tol's); enough for
// every phase id the benchmark has (19), so no two phases share a colour.
constexpr const char* palette[] = {"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9",
                                   "#D55E00", "#F0E442", "#332288", "#999999", "#8C564B",
                                   "#17BECF", "#BCBD22", "#882255", "#44AA99", "#AA4499",
                                   "#DDCC77", "#117733", "#88CCEE", "#661100", "#6699CC"};

std::string escape(std::string_view text) {
    std::string out;
    for (const char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

double median_of(const Runtime& runtime, std::optional<std::size_t> phase) {
    std::vector<double> values;
    for (const auto& sample : runtime.samples) {
        values.push_back(phase ? sample.phases[*phase] : sample.total);
    }
    return stats_of(values).median;
}

// A "nice" axis step (1, 2 or 5 times a power of ten) giving about `ticks` ticks.
double nice_step(double span, int ticks) {
    const double raw = span / ticks;
    // The power of ten at or below `raw`, by steps rather than log10/pow: berth links
    // no libm (one fewer library to load at every start of every subcommand).
    double power = 1;
    while (power * 10 <= raw) {
        power *= 10;
    }
    while (power > raw && power > 1e-9) {
        power /= 10;
    }
    for (const double factor : {1.0, 2.0, 5.0, 10.0}) {
        if (raw <= factor * power) {
            return factor * power;
        }
    }
    return 10 * power;
}

std::string time_text(double seconds) {
    const double ms = seconds * 1000;
    if (ms >= 1000) {
        return fmt::format("{:.3g} s", seconds);
    }
    return fmt::format("{:.3g} ms", ms);
}

}  // namespace

std::string render_svg(const BenchResult& result) {
    // One colour per phase id, in order of first appearance.
    std::map<std::string, std::string> colour;
    std::vector<const Phase*> legend_order;
    for (const auto& runtime : result.runtimes) {
        if (!runtime.ran()) {
            continue;
        }
        for (const auto& phase : runtime.phases) {
            if (!colour.contains(phase.id)) {
                colour[phase.id] = palette[colour.size() % std::size(palette)];
                legend_order.push_back(&phase);
            }
        }
    }
    std::string body;
    int y = 58;
    for (const bool emulated : {false, true}) {
        std::vector<const Runtime*> panel;
        for (const auto& runtime : result.runtimes) {
            if (runtime.ran() && runtime.emulated == emulated) {
                panel.push_back(&runtime);
            }
        }
        if (panel.empty()) {
            continue;
        }
        const std::string heading =
            emulated
                ? "VMs in tools/kvm-rig: EMULATED times (an emulated machine, 50-100x slower than "
                  "hardware)"
                : (result.vm_note.empty() ? "on this host" : "containers, on this host (native)");
        body +=
            fmt::format("<text class=\"panel\" x=\"10\" y=\"{}\">{}</text>\n", y, escape(heading));
        y += 14;
        double longest = 0;
        for (const auto* runtime : panel) {
            longest = std::max(longest, median_of(*runtime, std::nullopt));
        }
        const double step = nice_step(longest > 0 ? longest : 1e-3, 5);
        const double axis_end = std::ceil(longest / step) * step;
        const double scale = (width - left - right) / (axis_end > 0 ? axis_end : 1);
        const int top = y;
        for (const auto* runtime : panel) {
            body += fmt::format("<g class=\"bar\" data-runtime=\"{}\">\n", escape(runtime->name));
            body += fmt::format(
                "  <text class=\"name\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n",
                left - 8, y + bar_height / 2 + 5, escape(runtime->name));
            double x = left;
            for (std::size_t i = 0; i < runtime->phases.size(); ++i) {
                const double median = median_of(*runtime, i);
                const double w = median * scale;
                body += fmt::format(
                    "  <rect class=\"phase\" data-phase=\"{}\" x=\"{:.2f}\" y=\"{}\" "
                    "width=\"{:.2f}\" height=\"{}\" "
                    "fill=\"{}\"><title>{}: {} ({}, median)</title></rect>\n",
                    escape(runtime->phases[i].id), x, y, w, bar_height,
                    colour[runtime->phases[i].id], escape(runtime->name),
                    escape(runtime->phases[i].label), time_text(median));
                x += w;
            }
            body += fmt::format("  <text class=\"total\" x=\"{:.2f}\" y=\"{}\">{}</text>\n</g>\n",
                                x + 6, y + bar_height / 2 + 5,
                                time_text(median_of(*runtime, std::nullopt)));
            y += bar_height + bar_gap;
        }
        // The axis under the panel's bars.
        body += fmt::format("<line class=\"axis\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>\n",
                            left, y - 4, width - right, y - 4);
        for (double t = 0; t <= axis_end + step / 2; t += step) {
            const double x = left + t * scale;
            body += fmt::format(
                "<line class=\"tick\" x1=\"{:.2f}\" y1=\"{}\" x2=\"{:.2f}\" y2=\"{}\"/>\n", x,
                top - 4, x, y - 4);
            body += fmt::format(
                "<text class=\"tick\" x=\"{:.2f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", x,
                y + 10, time_text(t));
        }
        y += 34;
    }
    // Legend: one swatch per phase.
    body +=
        fmt::format("<text class=\"panel\" x=\"10\" y=\"{}\">phases (median of {} runs)</text>\n",
                    y, result.runs);
    y += 8;
    // Two columns of swatches.
    for (std::size_t i = 0; i < legend_order.size(); ++i) {
        const int x = i % 2 == 0 ? 10 : width / 2;
        body += fmt::format(
            "<g class=\"legend\"><rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/>"
            "<text x=\"{}\" y=\"{}\">{}</text></g>\n",
            x, y, colour[legend_order[i]->id], x + 18, y + 10, escape(legend_order[i]->label));
        if (i % 2 == 1 || i + 1 == legend_order.size()) {
            y += 18;
        }
    }
    for (const auto& runtime : result.runtimes) {
        if (!runtime.ran()) {
            body +=
                fmt::format("<text class=\"skipped\" x=\"10\" y=\"{}\">not run: {}: {}</text>\n",
                            y + 10, escape(runtime.name), escape(runtime.skipped));
            y += 18;
        }
    }
    const int height = y + 16;
    std::string svg = fmt::format(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} "
        "{1}\" "
        "font-family=\"sans-serif\" font-size=\"12\">\n"
        "<style>.title{{font-size:16px;font-weight:bold}} .panel{{font-weight:bold}} "
        ".axis,.tick{{stroke:#888}} text.tick{{stroke:none;fill:#444;font-size:10px}} "
        ".skipped{{fill:#a00}}</style>\n"
        "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        "<text class=\"title\" x=\"10\" y=\"24\">berth bench startup: {2}</text>\n"
        "<text x=\"10\" y=\"42\">start to exit by phase, median of {3} runs each</text>\n",
        width, height, escape(result.workload), result.runs);
    svg += body;
    svg += "</svg>\n";
    return svg;
}

}  // namespace berth::bench
