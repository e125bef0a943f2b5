#pragma once
// How subcommands plug into the `berth` command line. Each subcommand file adds its
// options to the CLI11 app and, when it is the one chosen, sets `action` to the work
// to do. Parsing finishes before any action runs, so a wrong flag never leaves half a
// VM or container behind.

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

namespace berth::cli {

// Returns berth's exit status.
using Action = std::function<int()>;

// An empty value is a mistake (an unset shell variable, say), never "use the default":
// every flag that takes a value is checked with it (CLI11 prints "--ip: " before the
// text).
inline const CLI::Validator non_empty(
    [](const std::string& value) {
        return value.empty() ? std::string("the value is empty; give one or leave the flag out")
                             : std::string();
    },
    "", "non-empty");

void add_vm_command(CLI::App& app, Action& action);
void add_doctor_command(CLI::App& app, Action& action);
void add_ct_command(CLI::App& app, Action& action);
void add_lesson_command(CLI::App& app, Action& action);
void add_bench_command(CLI::App& app, Action& action);
void add_image_command(CLI::App& app, Action& action);
// `image create` and `image info`, under `image`.
void add_image_disk_commands(CLI::App& image, Action& action);

// runc's command line (oci_command.cpp): whether argv starts with one of its global
// options or commands, and running it.
bool is_oci_command_line(int argc, char** argv);
int run_oci_command(int argc, char** argv);

// What --version prints: berth's version and the OCI runtime-spec version it follows
// (callers of an OCI runtime look for "spec:", as runc prints it).
std::string version_text();

}  // namespace berth::cli
