#include "vmm/machine/fw_cfg_files.hpp"

#include <set>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/file.hpp"
#include "vmm/common/quote.hpp"

namespace berth::machine {

FwCfgFileSpec parse_fw_cfg_file(std::string_view value) {
    const std::string_view usage = "give name=opt/NAME,file=PATH";
    FwCfgFileSpec spec;
    bool have_name = false;
    bool have_file = false;
    std::size_t start = 0;
    while (true) {
        const std::size_t comma = value.find(',', start);
        const std::string_view part = value.substr(start, comma - start);
        const std::size_t equals = part.find('=');
        if (equals == std::string_view::npos || equals + 1 == part.size()) {
            throw bad_input(fmt::format("{} is not KEY=VALUE; {}", quote(part), usage));
        }
        const std::string_view key = part.substr(0, equals);
        const std::string_view text = part.substr(equals + 1);
        if (key != "name" && key != "file") {
            throw bad_input(
                fmt::format("unknown key {} (berth takes name and file); {}", quote(key), usage));
        }
        bool& seen = key == "name" ? have_name : have_file;
        if (seen) {
            throw bad_input(fmt::format("{} is given twice; {}", key, usage));
        }
        seen = true;
        if (key == "name") {
            spec.name = text;
        } else {
            spec.file = std::string(text);
        }
        if (comma == std::string_view::npos) {
            break;
        }
        start = comma + 1;
    }
    if (!have_name || !have_file) {
        throw bad_input(fmt::format("{} is missing; {}", have_name ? "file" : "name", usage));
    }
    devices::FwCfg::check_file_name(spec.name);
    return spec;
}

std::shared_ptr<devices::FwCfg> make_fw_cfg(const std::vector<FwCfgFileSpec>& files,
                                            std::uint64_t ram_size, std::uint32_t cpus) {
    // Names first: a clash is found before any file is read.
    std::set<std::string> names;
    for (const auto& spec : files) {
        devices::FwCfg::check_file_name(spec.name);
        if (!names.insert(spec.name).second) {
            throw bad_input(
                fmt::format("fw_cfg file name {} is given twice; give each file its own name",
                            quote(spec.name)));
        }
    }
    std::vector<devices::FwCfg::File> contents;
    for (const auto& spec : files) {
        try {
            contents.push_back({spec.name, read_input_file(spec.file, "fw_cfg file",
                                                           devices::FwCfg::max_file_size)});
        } catch (const Error& e) {
            throw e.with_context(fmt::format("fw_cfg {}", quote(spec.name)));
        }
    }
    try {
        return std::make_shared<devices::FwCfg>(ram_size, static_cast<std::uint16_t>(cpus),
                                                std::move(contents));
    } catch (const Error& e) {
        throw e.with_context("fw_cfg");
    }
}

}  // namespace berth::machine
