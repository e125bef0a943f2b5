// `berth bench startup`: VM vs container start-up of the same workload, by phase,
// against the peers installed here (bench/startup_bench does the work).

#include <memory>
#include <string>

#include "vmm/bench/startup_bench.hpp"
#include "vmm/cli/command.hpp"
#include "vmm/common/error.hpp"

namespace berth::cli {

void add_bench_command(CLI::App& app, Action& action) {
    auto* bench = app.add_subcommand("bench", "Benchmarks");
    bench->require_subcommand(1);

    struct Flags {
        std::string kernel;
        std::string image;
        std::string initrd;
        std::string rootfs;
        int runs = 10;
        std::string json;
        std::string svg;
        std::string peers = "auto";
        bool vm_only = false;
        bool container_only = false;
        std::string rig;
        std::string render_from;
    };
    auto flags = std::make_shared<Flags>();
    auto* startup =
        bench->add_subcommand("startup",
                              "Start the same workload (sh -c 'echo berth-bench-marker') N times "
                              "as a berth VM and as a berth "
                              "container from one root filesystem, and with QEMU microvm, runc, "
                              "crun and bwrap where they run; "
                              "print min/median/p95 per phase (see docs/bench-startup.md). Without "
                              "KVM that boots Linux the VM "
                              "half runs in tools/kvm-rig (emulated)");
    auto* image = startup->add_option(
        "--image", flags->image,
        "Initramfs for both modes: the VM boots it, the containers run it unpacked (default: "
        "images/initramfs.cpio.gz next to berth)");
    startup->add_option("--kernel", flags->kernel,
                        "bzImage for the VM (default: the newest /boot/vmlinuz-*)");
    auto* initrd =
        startup->add_option("--initrd", flags->initrd, "Initramfs for the VM, with --rootfs")
            ->excludes(image);
    auto* rootfs = startup
                       ->add_option("--rootfs", flags->rootfs,
                                    "Directory for the containers, with --initrd (the same files)")
                       ->excludes(image);
    initrd->needs(rootfs);
    rootfs->needs(initrd);
    startup->add_option("--runs", flags->runs, "Samples per runtime (default 10)");
    startup->add_option("--json", flags->json, "Write every sample to FILE as JSON")
        ->type_name("FILE");
    startup
        ->add_option("--svg", flags->svg,
                     "Write a chart to FILE: stacked bars per runtime, one colour per phase")
        ->type_name("FILE");
    startup->add_option("--peers", flags->peers, "auto (those installed) or none")
        ->check(CLI::IsMember({"auto", "none"}));
    // Internal: how berth runs the VM half inside tools/kvm-rig.
    startup->add_flag("--vm-only", flags->vm_only)->group("");
    // Internal: the container half alone (quick checks while developing).
    startup->add_flag("--container-only", flags->container_only)->group("");
    startup
        ->add_option("--rig", flags->rig,
                     "tools/kvm-rig to use when this host's KVM cannot boot Linux")
        ->type_name("PATH");
    startup
        ->add_option("--from-json", flags->render_from,
                     "Measure nothing: print the table (and --svg) of a file written by --json")
        ->type_name("FILE");
    startup->callback([flags, &action] {
        action = [flags] {
            bench::StartupOptions options;
            options.kernel = flags->kernel;
            options.image = flags->image;
            options.initrd = flags->initrd;
            options.rootfs = flags->rootfs;
            options.runs = flags->runs;
            options.json_file = flags->json;
            options.svg_file = flags->svg;
            options.peers = flags->peers == "none" ? bench::Peers::none : bench::Peers::auto_detect;
            options.half = flags->vm_only          ? bench::Half::vm_only
                           : flags->container_only ? bench::Half::container_only
                                                   : bench::Half::both;
            options.rig = flags->rig;
            options.render_from = flags->render_from;
            return bench::run_startup_bench(options);
        };
    });
}

}  // namespace berth::cli
