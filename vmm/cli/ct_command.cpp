// `berth ct run`: the container half of berth. Flags are parsed and checked here (bad
// input is status 2 before anything is created); container/container_runtime does the
// work.

#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "vmm/cli/command.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/container/container_runtime.hpp"
#include "vmm/container/layer_cache.hpp"
#include "vmm/container/oci_image_run.hpp"
#include "vmm/container/run_options.hpp"

namespace berth::cli {

namespace {

struct CtRunFlags {
    std::string rootfs;
    std::string image;
    std::string oci;
    std::string layer_cache = container::default_layer_cache;
    std::string name;
    std::string hostname;
    std::string memory;
    std::string pids;
    std::string cpus;
    std::string net = "none";
    std::string ip;
    std::vector<std::string> env;
    std::string workdir;  // empty: / (or the image's WorkingDir)
    std::string user;
    bool read_only = false;
    bool interactive = false;
    bool tty = false;
    std::vector<std::string> command;  // words after "--"
};

container::RunOptions to_options(const CtRunFlags& flags, std::vector<std::string> command) {
    using namespace container;
    RunOptions options;
    if (int(!flags.rootfs.empty()) + int(!flags.image.empty()) + int(!flags.oci.empty()) != 1) {
        throw bad_input(
            "give exactly one of --rootfs DIR (the container's files), --image IMG (a raw ext4 "
            "image) or --oci DIR[:TAG] (an OCI image layout)");
    }
    options.rootfs = flags.rootfs;
    options.image = flags.image;
    if (!flags.name.empty()) {
        check_name(flags.name, "--name");
        options.name = flags.name;
    }
    options.hostname = !flags.hostname.empty() ? flags.hostname
                       : !flags.name.empty()   ? flags.name
                                               : "berth";
    check_name(options.hostname, "--hostname");
    if (!flags.memory.empty()) {
        options.memory_bytes = parse_memory(flags.memory);
    }
    if (!flags.pids.empty()) {
        options.pids = parse_pids(flags.pids);
    }
    if (!flags.cpus.empty()) {
        options.cpu_quota_us = parse_cpus(flags.cpus);
    }
    options.net = parse_net_mode(flags.net);
    if (!flags.ip.empty()) {
        if (options.net != NetMode::bridge) {
            throw bad_input("--ip needs --net bridge");
        }
        options.ip = parse_bridge_ip(flags.ip);
    }
    for (const auto& entry : flags.env) {
        options.env.push_back(parse_env(entry));
    }
    if (!flags.workdir.empty()) {
        if (flags.workdir.front() != '/') {
            throw bad_input(
                fmt::format("--workdir {} must be an absolute path inside the container",
                            quote(flags.workdir)));
        }
        options.workdir = flags.workdir;
    }
    if (!flags.user.empty()) {
        options.user = parse_user(flags.user);
    }
    options.root_mode = flags.read_only ? RootMode::read_only : RootMode::writable;
    options.keep_stdin = flags.interactive;
    options.tty = flags.tty;
    if (!flags.oci.empty()) {
        // The image says what to run unless the words after it do (they replace its Cmd).
        try {
            apply_oci_image({.reference = flags.oci,
                             .layer_cache = flags.layer_cache,
                             .command = std::move(command),
                             .workdir_given = !flags.workdir.empty(),
                             .user_given = !flags.user.empty()},
                            options);
        } catch (const Error& e) {
            // The container layer names the image, never the flag: this is where it is.
            throw e.with_context("--oci");
        }
        return options;
    }
    if (command.empty()) {
        throw bad_input("no command given: berth ct run [OPTIONS] -- CMD [ARGS...]");
    }
    options.command = std::move(command);
    return options;
}

}  // namespace

void add_ct_command(CLI::App& app, Action& action) {
    auto* ct =
        app.add_subcommand("ct", "Run a command as a container (namespaces, cgroups, pivot_root)");
    ct->require_subcommand(1);

    auto flags = std::make_shared<CtRunFlags>();
    auto* run = ct->add_subcommand(
        "run",
        "Run CMD in new namespaces with DIR as its root. Exit status: the command's (128+N for "
        "signal N), 2 for bad input, 125 when the runtime failed, 126 when CMD cannot be executed, "
        "127 "
        "when it is not found");
    run->add_option("--rootfs", flags->rootfs,
                    "Directory to use as the container's root filesystem")
        ->check(non_empty);
    run->add_option(
           "--image", flags->image,
           "Raw ext4 image to use instead, read-only with a writable tmpfs overlay (root only)")
        ->check(non_empty);
    run->add_option("--oci", flags->oci,
                    "OCI image layout DIR[:TAG] to run (as skopeo copy oci:DIR:TAG or podman save "
                    "--format oci-dir write it; root only): its layers, unpacked once into "
                    "--layer-cache, under a writable tmpfs overlay, run as its config says; "
                    "words after it replace its Cmd")
        ->check(non_empty);
    run->add_option("--layer-cache", flags->layer_cache,
                    "Where --oci keeps unpacked layers, by digest (default "
                    "/var/cache/berth/layers)")
        ->check(non_empty);
    run->add_option("--name", flags->name, "Name (cgroup berth-NAME; default hostname)")
        ->check(non_empty);
    run->add_option("--hostname", flags->hostname,
                    "Hostname inside (default: the name, else berth)")
        ->check(non_empty);
    run->add_option("--memory", flags->memory, "Memory limit, e.g. 64M (OOM kill beyond it)")
        ->check(non_empty);
    run->add_option("--pids", flags->pids, "Most processes at once, init included")
        ->check(non_empty);
    run->add_option("--cpus", flags->cpus, "CPU time as a number of CPUs, e.g. 0.5")
        ->check(non_empty);
    run->add_option("--net", flags->net,
                    "none (loopback only, default), host, or bridge (berth0, 10.88.0.0/16)")
        ->check(non_empty);
    run->add_option("--ip", flags->ip,
                    "Address for --net bridge, e.g. 10.88.0.5/16 (default: a free one)")
        ->check(non_empty);
    run->add_option("--env,-e", flags->env, "KEY=VALUE for the command's environment (repeatable)")
        ->allow_extra_args(false)
        ->check(non_empty);
    run->add_option("--workdir,-w", flags->workdir, "Working directory inside (default /)")
        ->check(non_empty);
    run->add_option("--user,-u", flags->user, "UID[:GID] to run the command as (default 0)")
        ->check(non_empty);
    run->add_flag("--read-only", flags->read_only, "Mount the root filesystem read-only");
    run->add_flag("--interactive,-i", flags->interactive, "Pass stdin to the command");
    run->add_flag("--tty,-t", flags->tty, "Give the command a pseudo-terminal");
    // Everything from the first word that is not an option on is the command.
    run->add_option("command", flags->command, "The command and its arguments (after --)");
    // The first word that is not an option starts the command; its own flags are its own.
    run->positionals_at_end();
    run->callback([flags, &action] {
        // Checked in the action: main turns its errors into one line and a status.
        action = [flags] {
            try {
                // With --oci this reads the image and unpacks its layers.
                const container::RunOptions options = to_options(*flags, flags->command);
                return container::run_container(options);
            } catch (const Error& e) {
                // Failures of the runtime itself are 125 as with Docker; bad input stays 2.
                if (e.status() == ExitStatus::failure) {
                    throw Error(e.what(), container::runtime_failure);
                }
                throw;
            }
        };
    });
}

}  // namespace berth::cli
