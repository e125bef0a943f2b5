// `berth image build KIND`: makes guest images with the scripts in images/ (shell is
// the natural language for debootstrap, cpio and mke2fs). berth checks what it can
// first (output path, size, root, tools), so mistakes are one line and status 2
// before minutes of work, then runs the script and passes on its status.

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "images/images_config.h"
#include "vmm/cli/command.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/process.hpp"
#include "vmm/common/progress.hpp"
#include "vmm/common/size.hpp"
#include "vmm/common/unique_fd.hpp"

namespace berth::cli {

namespace {

namespace fs = std::filesystem;

// Where the scripts are: $BERTH_IMAGES_DIR, the install, then the source tree (a
// berth run from its build directory).
fs::path find_script(const std::string& name) {
    std::vector<fs::path> places;
    if (const char* dir = std::getenv("BERTH_IMAGES_DIR"); dir != nullptr && *dir != '\0') {
        places.emplace_back(dir);
    }
    places.emplace_back(BERTH_IMAGES_INSTALL_DIR);
    places.emplace_back(BERTH_IMAGES_SOURCE_DIR);
    std::string looked;
    for (const auto& place : places) {
        const fs::path script = place / name;
        if (access(script.c_str(), R_OK) == 0) {
            return script;
        }
        looked += (looked.empty() ? "" : ", ") + place.string();
    }
    throw Error(
        fmt::format("berth's image script {} is missing (looked in {}); reinstall berth "
                    "or set BERTH_IMAGES_DIR to its images/ directory",
                    name, looked));
}

// A program on PATH or in the sbin directories (mke2fs lives in /usr/sbin).
std::optional<fs::path> find_program(const std::string& name) {
    std::string path = std::getenv("PATH") != nullptr ? std::getenv("PATH") : "";
    path += ":/usr/sbin:/sbin";
    std::size_t start = 0;
    while (start <= path.size()) {
        const std::size_t end = std::min(path.find(':', start), path.size());
        if (end > start) {
            const fs::path candidate = fs::path(path.substr(start, end - start)) / name;
            if (access(candidate.c_str(), X_OK) == 0) {
                return candidate;
            }
        }
        start = end + 1;
    }
    return std::nullopt;
}

void require_program(const std::string& program, const std::string& package,
                     const std::string& kind) {
    if (!find_program(program)) {
        throw bad_input(
            fmt::format("image build {} needs {}, which is not installed: "
                        "apt-get install {}",
                        kind, program, package));
    }
}

// The output's directory must exist and the output must not be a directory.
void check_output(const std::string& output) {
    const fs::path path(output);
    const fs::path parent = path.parent_path().empty() ? fs::path(".") : path.parent_path();
    std::error_code error;
    if (!fs::is_directory(parent, error)) {
        throw bad_input(
            fmt::format("-o {}: directory {} does not exist; create it or choose "
                        "another output",
                        output, parent.string()));
    }
    if (fs::is_directory(path, error)) {
        throw bad_input(
            fmt::format("-o {} is a directory; give a file name for the image", output));
    }
    if (access(parent.c_str(), W_OK) != 0) {
        throw bad_input(fmt::format("-o {}: cannot write to directory {}; choose another output",
                                    output, parent.string()));
    }
}

// Parses --size and checks it against the smallest image that can work.
std::uint64_t image_size(const std::string& text, std::uint64_t minimum, const std::string& kind) {
    const std::uint64_t size = parse_size(text, "--size");
    if (size < minimum) {
        throw bad_input(
            fmt::format("--size {} is too small for a {} image; use --size {}M or "
                        "more",
                        text, kind, minimum >> 20));
    }
    return size;
}

// The descriptor a script writes its progress lines to ("N COUNT TEXT": step N of COUNT
// begins), named to it in BERTH_PROGRESS_FD.
constexpr int script_progress_fd = 3;

// Shows each progress line of the pipe `lines` as a step, until the child ends. The
// script's own children inherit the pipe and may outlive it (a daemon a package
// started), so the child's end, not the pipe's, stops the loop.
int follow_progress(ChildProcess& child, int lines, ProgressReporter& progress) {
    std::string pending;
    // Reads what the pipe holds now (it is non-blocking) and shows each whole line.
    const auto take_lines = [&] {
        char buffer[512];
        ssize_t got = 0;
        while (lines >= 0 && (got = ::read(lines, buffer, sizeof buffer)) > 0) {
            pending.append(buffer, static_cast<std::size_t>(got));
        }
        if (got == 0) {
            lines = -1;  // every writer is gone: poll ignores a negative descriptor
        }
        for (std::size_t end; (end = pending.find('\n')) != std::string::npos;) {
            std::istringstream line(pending.substr(0, end));
            pending.erase(0, end + 1);
            unsigned number = 0;
            unsigned steps = 0;
            std::string text;
            if (line >> number >> steps && std::getline(line >> std::ws, text)) {
                progress.step(number, steps, text);
            }
        }
    };
    for (;;) {
        pollfd ready{lines, POLLIN, 0};
        ::poll(&ready, 1, 250);  // with no pipe left, a wait for the child
        take_lines();
        if (const auto status = child.poll()) {
            take_lines();  // what it wrote just before it ended
            return *status;
        }
    }
}

// Runs `bash SCRIPT ARGS...` with stdio inherited and returns berth's exit status:
// the script's own (2 for bad input it found, 0 on success). On a terminal, the
// script's progress lines are shown as steps (ProgressReporter).
int run_script(const fs::path& script, const std::vector<std::string>& args,
               const std::string& kind) {
    std::vector<std::string> argv{"/bin/bash", script.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    ProgressReporter progress("image build " + kind);
    int code = 0;
    try {
        SpawnRequest request(argv);
        if (!progress.active()) {
            ::unsetenv("BERTH_PROGRESS_FD");
            code = run_to_end(request);
        } else {
            int ends[2];
            if (::pipe2(ends, O_CLOEXEC | O_NONBLOCK) != 0) {
                throw_errno("cannot make a pipe for its progress", errno);
            }
            const UniqueFd read_end(ends[0]);
            UniqueFd write_end(ends[1]);
            request.descriptors.emplace_back(write_end.get(), script_progress_fd);
            ::setenv("BERTH_PROGRESS_FD", std::to_string(script_progress_fd).c_str(), 1);
            ChildProcess child = ChildProcess::spawn(request);
            write_end = UniqueFd();
            code = follow_progress(child, read_end.get(), progress);
        }
    } catch (const Error& e) {
        throw e.with_context("cannot run " + script.string());
    }
    if (code > 128) {
        return code;  // ended by a signal: 128+N, as a shell says
    }
    if (code != 0 && code != static_cast<int>(ExitStatus::bad_input)) {
        throw Error(
            fmt::format("image build {} failed: {} exited with status {} (its messages "
                        "are above)",
                        kind, script.filename().string(), code));
    }
    return code;
}

}  // namespace

void add_image_command(CLI::App& app, Action& action) {
    auto* image = app.add_subcommand(
        "image", "Build guest images (initramfs, disk images); create and inspect qcow2 disks");
    image->require_subcommand(1);
    add_image_disk_commands(*image, action);
    auto* build = image->add_subcommand("build", "Build a guest image");
    build->require_subcommand(1);

    struct BuildFlags {
        std::string output;
        std::string size;
        std::string mirror = "http://deb.debian.org/debian";
        std::string modules;
        std::string kernel;
    };
    auto flags = std::make_shared<BuildFlags>();

    auto* initramfs = build->add_subcommand(
        "initramfs",
        "berth's default guest: busybox and an /init, with the Debian kernel's virtio and ext4 "
        "modules");
    initramfs->add_option("-o,--output", flags->output, "Output file (default initramfs.cpio.gz)");
    initramfs
        ->add_option("--modules", flags->modules,
                     "Kernel modules tree to take the drivers from (default: the newest in "
                     "/lib/modules)")
        ->check(CLI::ExistingDirectory);
    initramfs->callback([flags, &action] {
        action = [flags] {
            const std::string output =
                flags->output.empty() ? std::string("initramfs.cpio.gz") : flags->output;
            check_output(output);
            const auto script = find_script("build-initramfs.sh");
            if (!flags->modules.empty()) {
                setenv("BERTH_MODULES_DIR", flags->modules.c_str(), 1);
            }
            const int status = run_script(script, {output}, "initramfs");
            if (status == 0) {
                fmt::print("berth: wrote {}\n", output);
            }
            return status;
        };
    });

    auto* debian = build->add_subcommand(
        "debian",
        "Debian 12 with systemd and a serial-console login (root password: berth) on a raw "
        "ext4 disk image, by debootstrap (needs root and Debian's package archive; minutes)");
    debian->add_option("-o,--output", flags->output, "Output disk image")->required();
    debian->add_option("--size", flags->size, "Image size, e.g. 2G (default 2G)");
    debian->add_option("--mirror", flags->mirror,
                       "Debian archive to install from (default http://deb.debian.org/debian)");
    debian->callback([flags, &action] {
        action = [flags] {
            const std::uint64_t size = image_size(
                flags->size.empty() ? std::string("2G") : flags->size, 1ULL << 30, "Debian");
            check_output(flags->output);
            if (geteuid() != 0) {
                throw bad_input(
                    "image build debian needs root: debootstrap chroots into the new "
                    "system and creates device nodes; run it with sudo");
            }
            require_program("debootstrap", "debootstrap", "debian");
            require_program("mke2fs", "e2fsprogs", "debian");
            const auto script = find_script("build-debian.sh");
            return run_script(script, {flags->output, std::to_string(size), flags->mirror},
                              "debian");
        };
    });

    auto* disk = build->add_subcommand(
        "busybox-disk",
        "A small bootable ext4 disk image: busybox as root file system, the host's Debian "
        "kernel and berth's initramfs in /boot (no root needed)");
    disk->add_option("-o,--output", flags->output, "Output disk image")->required();
    disk->add_option("--size", flags->size, "Image size (default 64M)");
    disk->add_option("--kernel", flags->kernel,
                     "Kernel to put in /boot, /boot/vmlinuz-VERSION with modules in "
                     "/lib/modules/VERSION (default: the newest in /boot)")
        ->check(CLI::ExistingFile);
    disk->callback([flags, &action] {
        action = [flags] {
            const std::uint64_t size = image_size(
                flags->size.empty() ? std::string("64M") : flags->size, 32ULL << 20, "busybox");
            check_output(flags->output);
            require_program("mke2fs", "e2fsprogs", "busybox-disk");
            const auto script = find_script("build-busybox-disk.sh");
            std::vector<std::string> args{flags->output, std::to_string(size)};
            if (!flags->kernel.empty()) {
                args.push_back(flags->kernel);
            }
            return run_script(script, args, "busybox-disk");
        };
    });
}

}  // namespace berth::cli
