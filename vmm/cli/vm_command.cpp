// `berth vm run`: run a guest on KVM.

#include <memory>
#include <string>

#include "cli/command.hpp"
#include "common/size.hpp"
#include "machine/firmware_vm.hpp"

namespace berth::cli {

void add_vm_command(CLI::App& app, Action& action) {
    auto* vm = app.add_subcommand("vm", "Run a guest as a KVM virtual machine");
    vm->require_subcommand(1);

    struct RunFlags {
        std::string firmware;
        std::string memory = "16M";
        bool trace_exits = false;
    };
    auto flags = std::make_shared<RunFlags>();

    auto* run = vm->add_subcommand("run", "Boot a guest and attach its serial console to stdio");
    run->add_option("--firmware", flags->firmware,
                    "Flat real-mode binary loaded at 0000:7C00 (see guest-firmware/)")
        ->required();
    run->add_option("--memory", flags->memory, "Guest RAM, e.g. 64M or 1G (default 16M)");
    run->add_flag("--trace-exits", flags->trace_exits,
                  "Print a table of VM exits by reason and by port when the guest stops");
    run->callback([flags, &action] {
        action = [flags] {
            machine::FirmwareVmOptions options;
            options.firmware = flags->firmware;
            options.memory_size = parse_size(flags->memory, "--memory");
            options.trace_exits =
                flags->trace_exits ? machine::TraceExits::on : machine::TraceExits::off;
            return machine::run_firmware_vm(options);
        };
    });
}

}  // namespace berth::cli
