#pragma once
// The startup benchmark as an SVG chart: one horizontal bar per runtime that ran, cut
// into its phases' medians, one colour per phase, a legend and a time axis. Runtimes
// measured on different clocks (VMs emulated in the rig vs native containers) get
// separate panels with their own axes, so neither squashes the other.

#include <string>

#include "vmm/bench/bench_result.hpp"

namespace berth::bench {

std::string render_svg(const BenchResult& result);

}  // namespace berth::bench
