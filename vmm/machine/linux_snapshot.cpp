#include "vmm/machine/linux_snapshot.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/machine/snapshot_file.hpp"

namespace berth::machine {

namespace {

std::uint64_t size_of(const std::filesystem::path& path, const std::string& what) {
    struct stat status {};
    if (::stat(path.c_str(), &status) != 0) {
        throw_errno(what, errno);
    }
    return static_cast<std::uint64_t>(status.st_size);
}

}  // namespace

nlohmann::json snapshot_machine_record(const LinuxVmOptions& options, bool pm_timer) {
    nlohmann::json devices = nlohmann::json::array();
    for (const auto& spec : options.pci.devices) {
        const SnapshotRecord record = spec->snapshot_record();
        nlohmann::json files = nlohmann::json::array();
        for (const auto& file : record.files) {
            files.push_back({{"path", std::filesystem::absolute(file).string()},
                             {"size", size_of(file, "cannot read disk " + file.string())}});
        }
        devices.push_back({{"kind", spec->kind()}, {"value", record.value}, {"files", files}});
    }
    nlohmann::json fw_cfg = nlohmann::json::array();
    for (const auto& file : options.fw_cfg_files) {
        fw_cfg.push_back(
            {{"name", file.name}, {"file", std::filesystem::absolute(file.file).string()}});
    }
    return {{"cpus", options.cpus},
            {"memory_bytes", options.memory_size},
            {"console", options.pci.console == GuestConsole::virtio ? "hvc0" : "ttyS0"},
            {"pm_timer", pm_timer},
            {"qemu_debug_exit", options.qemu_debug_exit == QemuDebugExit::on},
            {"fw_cfg", std::move(fw_cfg)},
            {"devices", std::move(devices)}};
}

LoadedSnapshot load_snapshot(const std::filesystem::path& dir, LinuxVmOptions& options) {
    LoadedSnapshot snapshot;
    snapshot.dir = dir;
    snapshot.state = read_snapshot_state(dir);
    const std::string state_name = "snapshot state file " + (dir / snapshot_state_file).string();
    std::uint64_t memory_bytes = 0;
    std::vector<RamSpan> ram;
    try {
        const auto& machine = snapshot.state.at("machine");
        options.cpus = machine.at("cpus").get<std::uint32_t>();
        options.memory_size = machine.at("memory_bytes").get<std::uint64_t>();
        options.pci.console = machine.at("console").get<std::string>() == "hvc0"
                                  ? GuestConsole::virtio
                                  : GuestConsole::serial;
        options.qemu_debug_exit =
            machine.at("qemu_debug_exit").get<bool>() ? QemuDebugExit::on : QemuDebugExit::off;
        snapshot.pm_timer = machine.at("pm_timer").get<bool>();
        options.fw_cfg_files.clear();
        for (const auto& file : machine.at("fw_cfg")) {
            options.fw_cfg_files.push_back(
                {file.at("name").get<std::string>(), file.at("file").get<std::string>()});
        }
        options.pci.devices.clear();
        for (const auto& device : machine.at("devices")) {
            for (const auto& file : device.at("files")) {
                const std::filesystem::path path = file.at("path").get<std::string>();
                const auto expected = file.at("size").get<std::uint64_t>();
                struct stat status {};
                if (::stat(path.c_str(), &status) != 0) {
                    throw bad_input(fmt::format(
                        "{}; the snapshot needs the disk image it was taken with, at that path",
                        errno_message("disk " + path.string(), errno)));
                }
                if (S_ISREG(status.st_mode) &&
                    static_cast<std::uint64_t>(status.st_size) != expected) {
                    throw bad_input(fmt::format(
                        "disk {} is {} bytes, and the snapshot was taken with {}: the disk has "
                        "changed; restore with the disk image as it was when the snapshot was "
                        "taken",
                        path.string(), status.st_size, expected));
                }
            }
            options.pci.devices.push_back(spec_from_snapshot(
                device.at("kind").get<std::string>(), device.at("value").get<std::string>()));
        }
        for (const auto& region : snapshot.state.at("memory")) {
            memory_bytes = std::max(memory_bytes, region.at("offset").get<std::uint64_t>() +
                                                      region.at("size").get<std::uint64_t>());
            ram.push_back({region.at("guest_address").get<std::uint64_t>(),
                           region.at("size").get<std::uint64_t>()});
        }
        if (snapshot.state.at("vcpus").size() != options.cpus || options.cpus == 0) {
            throw bad_input("damaged: the vCPU states do not match the vCPU count");
        }
    } catch (const nlohmann::json::exception&) {
        throw bad_input(state_name +
                        ": damaged: a field is missing or has the wrong type; take the "
                        "snapshot again");
    } catch (const Error& e) {
        if (e.status() == ExitStatus::bad_input &&
            std::string_view(e.what()).starts_with("damaged")) {
            throw e.with_context(state_name);
        }
        throw e.with_context("snapshot " + dir.string());
    }
    const auto memory_path = dir / snapshot_memory_file;
    snapshot.memory.reset(::open(memory_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!snapshot.memory) {
        throw bad_input(
            fmt::format("{}; take the snapshot again",
                        errno_message("snapshot memory file " + memory_path.string(), errno)));
    }
    struct stat status {};
    if (::fstat(snapshot.memory.get(), &status) != 0 || !S_ISREG(status.st_mode) ||
        static_cast<std::uint64_t>(status.st_size) != memory_bytes) {
        throw bad_input(fmt::format(
            "snapshot memory file {} is not {} bytes as the state says (truncated or from "
            "another snapshot); take the snapshot again",
            memory_path.string(), memory_bytes));
    }
    if (options.restore_working_set) {
        snapshot.working_set = read_working_set(dir, ram);
    }
    return snapshot;
}

}  // namespace berth::machine
