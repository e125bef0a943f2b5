// The `berth` command: parses the command line, runs the chosen subcommand, and turns
// every error into one line on stderr and an exit status (2 for bad input).

#include <array>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "vmm/cli/command.hpp"
#include "vmm/cli/version.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/phase_clock.hpp"
#include "vmm/common/quote.hpp"

namespace {

// berth's commands, in the order `berth --help` lists them.
struct Command {
    std::string_view name;
    void (*add)(CLI::App&, berth::cli::Action&);
};
constexpr std::array commands{
    Command{"vm", berth::cli::add_vm_command},
    Command{"doctor", berth::cli::add_doctor_command},
    Command{"ct", berth::cli::add_ct_command},
    Command{"lesson", berth::cli::add_lesson_command},
    Command{"bench", berth::cli::add_bench_command},
    Command{"image", berth::cli::add_image_command},
};

const Command* find_command(std::string_view name) {
    for (const auto& command : commands) {
        if (command.name == name) {
            return &command;
        }
    }
    return nullptr;
}

// CLI11 builds a tree of options for every command it is given, which was more than
// half of berth's own start-up (every `ct run` paid for `vm`, `bench`, `image`...).
// When argv[1] names a command, only that one is added: the top level requires exactly
// one command, so once it is chosen CLI11 never looks at the others, and parsing, help
// and errors come out the same. Anything else (`berth`, `berth --help`, an unknown
// word) gets them all. BERTH_CLI_FULL_TREE=1 always builds all of them, so that
// tests/cli can compare the two.
void add_commands(CLI::App& app, berth::cli::Action& action, int argc, char** argv) {
    const Command* named = argc > 1 ? find_command(argv[1]) : nullptr;
    if (named != nullptr && std::getenv("BERTH_CLI_FULL_TREE") == nullptr) {
        named->add(app, action);
        return;
    }
    for (const auto& command : commands) {
        command.add(app, action);
    }
}

// The deepest command word parsed ("image build "), for "see berth image build --help".
CLI::App* deepest_command(CLI::App& app) {
    CLI::App* current = &app;
    for (auto subcommands = current->get_subcommands(); !subcommands.empty();
         subcommands = current->get_subcommands()) {
        current = subcommands.front();
    }
    return current;
}

std::string command_path(CLI::App& app) {
    std::string path;
    for (const CLI::App* current = deepest_command(app); current != &app;
         current = current->get_parent()) {
        path = current->get_name() + " " + path;
    }
    return path;
}

// CLI11 says "A subcommand is required" also when a word was given but named no
// subcommand (`berth image build floppy`, `berth --bogus`): name that word.
std::string missing_subcommand_message(CLI::App& app, const CLI::RequiredError& e) {
    CLI::App* command = deepest_command(app);
    const std::vector<std::string> rest = command->remaining();
    std::string where = "berth " + command_path(app);
    where.pop_back();  // the path's trailing space, or the one after "berth"
    if (rest.empty()) {
        return e.what();
    }
    if (std::string_view(rest.front()).starts_with("-")) {
        return fmt::format("unknown option {} for {}; give a command first",
                           berth::quote(rest.front()), where);
    }
    return fmt::format("{} is not a subcommand of {}", berth::quote(rest.front()), where);
}

// Every error ends as this one line: one_line escapes whatever control character a
// message still holds (values are quoted where they are echoed; this is the last guard).
void report(std::string_view message) {
    fmt::print(stderr, "berth: {}\n", berth::one_line(message));
}

}  // namespace

int main(int argc, char** argv) {
    berth::phase_mark("main");  // `berth bench startup` (BERTH_PHASES only)
    // Called as an OCI runtime (by podman's conmon, containerd's shim): runc's command line.
    if (berth::cli::is_oci_command_line(argc, argv)) {
        return berth::cli::run_oci_command(argc, argv);
    }
    CLI::App app{"berth: run a Linux workload as a KVM virtual machine or as a container"};
    app.name("berth");
    app.set_version_flag("--version", berth::cli::version_text());
    app.require_subcommand(1);

    berth::cli::Action action;
    add_commands(app, action, argc, argv);

    // CLI11 reports an unknown command word as "a subcommand is required"; name it.
    if (argc > 1 && argv[1][0] != '-' && find_command(argv[1]) == nullptr) {
        report(fmt::format("unknown command {} (see berth --help)", berth::quote(argv[1])));
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
    } catch (const CLI::RequiredError& e) {
        report(fmt::format("{} (see berth {}--help)", missing_subcommand_message(app, e),
                           command_path(app)));
        return static_cast<int>(berth::ExitStatus::bad_input);
    } catch (const CLI::ParseError& e) {
        // CLI11 prints several lines; we promise one, with the way out.
        report(fmt::format("{} (see berth --help)", e.what()));
        return static_cast<int>(berth::ExitStatus::bad_input);
    }

    try {
        return action();
    } catch (const berth::Error& e) {
        report(e.what());
        return static_cast<int>(e.status());
    } catch (const std::exception& e) {
        report(fmt::format("internal error: {}", e.what()));
        return static_cast<int>(berth::ExitStatus::failure);
    }
}
