// `berth lesson N`: run lesson N of docs/lessons/ — a guest program from
// guest-firmware/ — on the firmware machine (lessons 1-6) or, for lesson 7, a tiny
// bzImage through the Linux machine's loader. Without N, list the lessons.
//
// Where the lesson binaries are found, first match wins:
//   <dir of the berth executable>/guest-firmware/   a build tree (build/berth)
//   <dir of the berth executable>/../share/berth/lessons/   an install (meson install)

#include <unistd.h>

#include <array>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "vmm/cli/command.hpp"
#include "vmm/cli/vm_start.hpp"
#include "vmm/common/error.hpp"
#include "vmm/machine/firmware_vm.hpp"
#include "vmm/machine/linux_vm.hpp"

namespace berth::cli {

namespace {

// Which machine runs the lesson's binary: the firmware machine, or the Linux machine's
// loader (a bzImage for lesson 7, a Multiboot kernel for lesson 8).
enum class LessonMachine { firmware, linux_loader };

struct Lesson {
    int number;
    const char* firmware;  // guest-firmware/<firmware>.asm, built as <firmware><suffix>
    const char* title;
    const char* doc;
    LessonMachine machine = LessonMachine::firmware;
    const char* suffix = ".bin";
};

constexpr std::array lessons = {
    Lesson{1, "hello", "real mode and port I/O", "docs/lessons/01-real-mode.md"},
    Lesson{2, "protected-mode", "protected mode: GDT, segments, the switch",
           "docs/lessons/02-protected-mode.md"},
    Lesson{3, "long-mode", "long mode: page tables, PAE, EFER.LME, 64-bit code",
           "docs/lessons/03-long-mode.md"},
    Lesson{4, "mmio", "MMIO: an access to no RAM becomes an exit berth answers",
           "docs/lessons/04-mmio.md"},
    Lesson{5, "interrupts", "interrupts: PIT, IVT and KVM's in-kernel irqchip",
           "docs/lessons/05-interrupts.md"},
    Lesson{6, "paravirt", "a paravirtual device: a ring in guest memory",
           "docs/lessons/06-paravirtual.md"},
    Lesson{7, "bootparams", "boot_params: what the VMM sets up before Linux can boot",
           "docs/lessons/07-boot-params.md", LessonMachine::linux_loader},
    Lesson{8, "lesson8", "a kernel in C: Multiboot, GDT/IDT, UART, fw_cfg, SMP",
           "docs/lessons/08-kernel-in-c.md", LessonMachine::linux_loader, ".elf"},
};
std::filesystem::path executable_dir() {
    std::error_code error;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", error);
    if (error) {
        throw Error(
            fmt::format("cannot find the berth executable (/proc/self/exe: {}); "
                        "run it with --firmware through `berth vm run` instead",
                        error.message()));
    }
    return exe.parent_path();
}

std::filesystem::path find_firmware(const Lesson& lesson) {
    const auto dir = executable_dir();
    const std::string file = std::string(lesson.firmware) + lesson.suffix;
    const std::array candidates = {dir / "guest-firmware" / file,
                                   dir.parent_path() / "share" / "berth" / "lessons" / file};
    for (const auto& candidate : candidates) {
        if (std::filesystem::is_regular_file(candidate)) {
            return candidate;
        }
    }
    throw bad_input(
        fmt::format("lesson {} ({}) is not built: looked for {} and {}; build it "
                    "with `ninja -C build` (or install berth)",
                    lesson.number, file, candidates[0].string(), candidates[1].string()));
}

void list_lessons() {
    fmt::print("Lessons (berth lesson N [--trace-exits] [--trace FILE]):\n");
    for (const auto& lesson : lessons) {
        fmt::print("  {}  {:<58} {}\n", lesson.number, lesson.title, lesson.doc);
    }
}

}  // namespace

void add_lesson_command(CLI::App& app, Action& action) {
    struct Flags {
        std::optional<int> number;
        std::uint32_t cpus = 1;
        bool trace_exits = false;
        std::string trace;
        std::string seccomp = "on";
    };
    auto flags = std::make_shared<Flags>();
    auto* lesson = app.add_subcommand(
        "lesson", "Run a hardware-virtualization lesson (docs/lessons/); without N, list them");
    lesson->add_option("N", flags->number, "Lesson number");
    auto* cpus = lesson->add_option("--cpus", flags->cpus,
                                    "vCPUs, for the lessons on the Linux machine (7, 8)");
    lesson->add_flag("--trace-exits", flags->trace_exits,
                     "Print a table of VM exits by reason and by port when the guest stops");
    lesson
        ->add_option("--trace", flags->trace,
                     "Write every VM exit to FILE as Chrome trace-event JSON")
        ->type_name("FILE");
    lesson
        ->add_option("--seccomp", flags->seccomp,
                     "Confine each of berth's threads to the system calls it needs: on "
                     "(default) or off, for debugging (docs/sandbox.md)")
        ->check(CLI::IsMember({"on", "off"}));
    lesson->callback([flags, cpus, &action] {
        action = [flags, cpus] {
            if (!flags->number) {
                list_lessons();
                return 0;
            }
            const int number = *flags->number;
            const Lesson* chosen = nullptr;
            for (const auto& candidate : lessons) {
                if (candidate.number == number) {
                    chosen = &candidate;
                }
            }
            if (chosen == nullptr) {
                throw bad_input(
                    fmt::format("there is no lesson {}; lessons are 1-{} (list "
                                "them with `berth lesson`)",
                                number, lessons.size()));
            }
            const auto trace_exits =
                flags->trace_exits ? machine::TraceExits::on : machine::TraceExits::off;
            const auto seccomp =
                flags->seccomp == "off" ? sandbox::Seccomp::off : sandbox::Seccomp::on;
            if (chosen->machine == LessonMachine::linux_loader) {
                machine::LinuxVmOptions options;
                options.kernel = find_firmware(*chosen);
                options.extra_cmdline = fmt::format("berth_lesson={}", number);
                options.cpus = flags->cpus;
                options.trace_exits = trace_exits;
                options.trace_file = flags->trace;
                options.seccomp = seccomp;
                return run_vm(fmt::format("lesson {}", number),
                              [&] { return machine::run_linux_vm(options); });
            }
            if (cpus->count() > 0) {
                throw bad_input(fmt::format(
                    "--cpus: lesson {} runs on the firmware machine, which has one vCPU; "
                    "lessons 7 and 8 take --cpus",
                    number));
            }
            machine::FirmwareVmOptions options;
            options.firmware = find_firmware(*chosen);
            options.trace_exits = trace_exits;
            options.trace_file = flags->trace;
            options.seccomp = seccomp;
            return run_vm(fmt::format("lesson {}", number),
                          [&] { return machine::run_firmware_vm(options); });
        };
    });
}

}  // namespace berth::cli
