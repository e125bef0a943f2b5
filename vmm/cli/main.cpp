// The `berth` command: parses the command line, runs the chosen subcommand, and turns
// every error into one line on stderr and an exit status (2 for bad input).

#include <cstdio>
#include <exception>

#include <fmt/format.h>

#include "cli/command.hpp"
#include "common/error.hpp"
#include "common/phase_clock.hpp"
#include "version.hpp"

int main(int argc, char** argv) {
    berth::phase_mark("main");  // `berth bench startup` (BERTH_PHASES only)
    CLI::App app{"berth: run a Linux workload as a KVM virtual machine or as a container"};
    app.name("berth");
    app.set_version_flag("--version", std::string("berth ") + berth::version);
    app.require_subcommand(1);

    berth::cli::Action action;
    berth::cli::add_vm_command(app, action);
    berth::cli::add_doctor_command(app, action);
    berth::cli::add_ct_command(app, action);
    berth::cli::add_lesson_command(app, action);
    berth::cli::add_bench_command(app, action);
    berth::cli::add_image_command(app, action);

    // CLI11 reports an unknown command word as "a subcommand is required"; name it.
    auto is_command = [&app](const std::string& word) {
        for (const auto* sub : app.get_subcommands({})) {
            if (sub->get_name() == word) {
                return true;
            }
        }
        return false;
    };
    if (argc > 1 && argv[1][0] != '-' && !is_command(argv[1])) {
        fmt::print(stderr, "berth: unknown command '{}' (see berth --help)\n", argv[1]);
        return static_cast<int>(berth::ExitStatus::bad_input);
    }

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        // CLI11 prints several lines; we promise one, with the way out.
        fmt::print(stderr, "berth: {} (see berth --help)\n", e.what());
        return static_cast<int>(berth::ExitStatus::bad_input);
    }

    try {
        return action();
    } catch (const berth::Error& e) {
        fmt::print(stderr, "berth: {}\n", e.what());
        return static_cast<int>(e.status());
    } catch (const std::exception& e) {
        fmt::print(stderr, "berth: internal error: {}\n", e.what());
        return static_cast<int>(berth::ExitStatus::failure);
    }
}
