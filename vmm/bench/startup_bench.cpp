#include "vmm/bench/startup_bench.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "vmm/bench/bench_result.hpp"
#include "vmm/bench/bench_svg.hpp"
#include "vmm/bench/initramfs_image.hpp"
#include "vmm/bench/sample_runner.hpp"
#include "vmm/boot/bzimage.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/file.hpp"
#include "vmm/common/process.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/temp_dir.hpp"
#include "vmm/common/unique_fd.hpp"
#include "vmm/kvm/system.hpp"
#include "vmm/machine/linux_vm.hpp"
#include "vmm/memory/platform_layout.hpp"

namespace berth::bench {

namespace {

namespace fs = std::filesystem;

// The workload: a line the benchmark looks for, printed by the guest's or the
// container's /bin/sh, which then exits.
constexpr const char* marker = "berth-bench-marker";
constexpr const char* workload = "echo berth-bench-marker";
// What berth's initramfs prints once /init has set up (QEMU's observable phase end).
constexpr const char* userspace_line = "berth-guest: userspace ready";
// Its guest RAM; bench/initramfs_image.hpp caps an unpacked archive at the same size.
constexpr const char* vm_memory = "256M";
// Guests: quiet, as a production guest would boot; the workload through berth_run=.
const std::string guest_cmdline = fmt::format("quiet berth_run=\"{}\"", workload);
// The "VM from snapshot" row: the same workload behind one wait for a console line. The
// bench boots this guest once, snapshots it while it waits (so, just before the
// marker) and gives every restore that line on its console: each restore runs straight
// on to the marker. No boot is timed in that row.
constexpr const char* snapshot_point = "berth-bench-snapshot-point";
const std::string snapshot_guest_cmdline = fmt::format(
    "quiet berth_run=\"echo {}; read line </dev/console; {}\"", snapshot_point, workload);

fs::path self_exe() {
    return fs::read_symlink("/proc/self/exe");
}

bool in_rig() {
    return std::getenv("BERTH_IN_RIG") != nullptr;
}

// The --json and --svg files, created once the inputs are open (OutputFile refuses an
// output that is one of them) and put in place only when written whole.
struct Outputs {
    std::optional<OutputFile> json;
    std::optional<OutputFile> svg;

    static Outputs create(const StartupOptions& options) {
        Outputs outputs;
        if (!options.json_file.empty()) {
            outputs.json.emplace(OutputFile::create(options.json_file, "--json file"));
        }
        if (!options.svg_file.empty()) {
            outputs.svg.emplace(OutputFile::create(options.svg_file, "--svg file"));
        }
        return outputs;
    }
};

void write_file(std::optional<OutputFile>& output, const std::string& text) {
    if (output) {
        output->write(text);
        output->commit();
    }
}

// A file name need not be UTF-8: replace what is not, rather than fail the dump.
std::string json_text(const BenchResult& result) {
    return to_json(result).dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

fs::path newest_kernel() {
    std::vector<fs::path> kernels;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator("/boot", error)) {
        if (entry.path().filename().string().starts_with("vmlinuz-")) {
            kernels.push_back(entry.path());
        }
    }
    if (kernels.empty()) {
        throw bad_input(
            "no --kernel given and no /boot/vmlinuz-* here; install linux-image-amd64 or give "
            "--kernel");
    }
    std::sort(kernels.begin(), kernels.end());
    return kernels.back();
}

// Empty when this host's KVM can boot a stock Linux kernel, else why not.
std::string kvm_cannot_boot_linux() {
    try {
        const auto kvm = kvm::System::open();
        if (kvm::host_kvm_is_pvm()) {
            return "this host's /dev/kvm is PVM (module kvm_pvm), which cannot boot a stock Linux "
                   "kernel";
        }
        return {};
    } catch (const Error& e) {
        return e.what();
    }
}

std::optional<fs::path> find_in_path(const std::string& program) {
    const char* path = std::getenv("PATH");
    std::string_view rest = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
    while (!rest.empty()) {
        const std::size_t colon = rest.find(':');
        const fs::path candidate = fs::path(rest.substr(0, colon)) / program;
        if (::access(candidate.c_str(), X_OK) == 0) {
            return candidate;
        }
        rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    }
    return std::nullopt;
}

class Progress {
public:
    Progress() : tty_(::isatty(STDERR_FILENO) != 0) {}
    ~Progress() {
        if (tty_ && shown_) {
            std::fputs("\r\033[K", stderr);
        }
    }
    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;
    void show(const std::string& text) {
        if (tty_) {
            fmt::print(stderr, "\r\033[K{}", text);
        } else {
            fmt::print(stderr, "{}\n", text);
        }
        std::fflush(stderr);
        shown_ = true;
    }

private:
    bool tty_;
    bool shown_ = false;
};

// One runtime under test: how to start a sample and how to turn it into phases.
struct Contender {
    Runtime runtime;
    // argv for sample `index`; "{id}" in a word becomes a name unique to the sample.
    std::vector<std::string> argv;
    bool berth_marks = false;       // berth writes its own marks; else only outside observations
    std::vector<std::string> ends;  // the mark ending each phase; "exit" last
    double timeout = 30;
    bool is_berth = false;   // a failure of berth is an error, a peer's is a reason to skip it
    int ok_status = 0;       // the exit status of a good run
    std::string stdin_text;  // empty: stdin from /dev/null
    std::function<void()> prepare;  // run once before the warm-up (makes the snapshot)
};

std::vector<std::string> sample_argv(const Contender& contender, int index) {
    std::vector<std::string> argv = contender.argv;
    for (auto& word : argv) {
        const std::size_t at = word.find("{id}");
        if (at != std::string::npos) {
            word.replace(at, 4, fmt::format("berth-bench-{}-{}", ::getpid(), index));
        }
    }
    return argv;
}

double seconds_since(std::int64_t ns, std::int64_t spawn_ns) {
    return static_cast<double>(ns - spawn_ns) / 1e9;
}

// One sample; nullopt with `why` filled when it failed (after one retry on a timeout).
std::optional<Sample> take_sample(const Contender& contender, int index, std::string& why,
                                  const std::function<void(const std::string&)>& say = {}) {
    int retries = 0;
    for (;;) {
        SampleSpec spec;
        spec.argv = sample_argv(contender, index);
        spec.record_phases = contender.berth_marks;
        spec.timeout_seconds = contender.timeout;
        spec.watch_line = userspace_line;
        spec.stdin_text = contender.stdin_text;
        const SampleRun run = run_sample(spec);
        if (run.timed_out && retries == 0) {
            ++retries;  // nested guests in the rig hang now and then; once is not a verdict
            // Said at once: the rig's watchdog kills a machine that stays silent too long.
            if (say) {
                say(fmt::format("bench startup: {} timed out after {:.0f} s; trying once more",
                                contender.runtime.name, contender.timeout));
            }
            continue;
        }
        if (run.timed_out) {
            why = fmt::format("timed out after {:.0f} s twice", contender.timeout);
            return std::nullopt;
        }
        if (run.status != contender.ok_status || !run.has_line(marker)) {
            why =
                run.status != contender.ok_status
                    ? fmt::format("exit status {}: {}", run.status, run.last_words())
                    : fmt::format("no {} line in its output: {}", quote(marker), run.last_words());
            return std::nullopt;
        }
        std::vector<std::pair<std::string, double>> marks;
        for (const auto& [name, ns] : run.marks) {
            marks.emplace_back(name, seconds_since(ns, run.spawn_ns));
        }
        if (run.first_output_ns) {
            marks.emplace_back("first_output", seconds_since(*run.first_output_ns, run.spawn_ns));
        }
        if (run.watch_line_ns) {
            marks.emplace_back("userspace_line", seconds_since(*run.watch_line_ns, run.spawn_ns));
        }
        marks.emplace_back("exit", seconds_since(run.exit_ns, run.spawn_ns));
        try {
            Sample sample = sample_from_marks(marks, contender.ends);
            sample.retries = retries;
            return sample;
        } catch (const Error& e) {
            why = fmt::format(
                "{} (an initramfs from before the phase-marker port 0x502? rebuild it)", e.what());
            return std::nullopt;
        }
    }
}

// A quick run of the program so that the first sample does not pay for loading it
// from disk (or, in the rig, over 9p).
void warm_up(const Contender& contender, bool full) {
    if (full) {
        std::string ignored;
        take_sample(contender, -1, ignored);
        return;
    }
    std::vector<std::string> argv{contender.argv.front(), "--version"};
    try {
        SampleSpec spec;
        spec.argv = argv;
        spec.timeout_seconds = 30;
        SampleRun run = run_sample(spec);
        (void)run;
    } catch (const Error&) {
    }
}

void measure(std::vector<Contender>& contenders, int runs, bool full_warm_up) {
    Progress progress;
    for (auto& contender : contenders) {
        if (contender.prepare && contender.runtime.skipped.empty()) {
            progress.show(fmt::format("bench startup: {}: preparing", contender.runtime.name));
            try {
                contender.prepare();
            } catch (const Error& e) {
                throw e.with_context(fmt::format("{} cannot be prepared", contender.runtime.name));
            }
        }
    }
    // Warm-up also finds the peers that do not run here at all (crun on a hybrid host).
    for (auto& contender : contenders) {
        if (!contender.runtime.skipped.empty()) {
            continue;
        }
        progress.show(fmt::format("bench startup: warming up {}", contender.runtime.name));
        warm_up(contender, full_warm_up);
    }
    for (int i = 0; i < runs; ++i) {
        for (auto& contender : contenders) {
            Runtime& runtime = contender.runtime;
            if (!runtime.skipped.empty()) {
                continue;
            }
            progress.show(fmt::format("bench startup: {} run {}/{}{}", runtime.name, i + 1, runs,
                                      runtime.emulated ? " (emulated, ~15-60 s a boot)" : ""));
            std::string why;
            auto sample = take_sample(
                contender, i, why, [&progress](const std::string& text) { progress.show(text); });
            if (!sample) {
                if (contender.is_berth) {
                    throw Error(fmt::format("{} failed in run {}: {}", runtime.name, i + 1, why));
                }
                runtime.skipped = fmt::format("fails here: {}", why);
                runtime.samples.clear();
                continue;
            }
            runtime.samples.push_back(std::move(*sample));
        }
    }
}

// Boots the snapshot guest (snapshot_guest_cmdline) once with a control socket and,
// when it says it waits for its line, snapshots it into `scratch`/snapshot through
// `berth vm ctl` and stops it. Throws when that fails (after one retry on a timeout:
// nested guests in the rig hang now and then).
void take_bench_snapshot(const fs::path& berth, const fs::path& kernel, const fs::path& initrd,
                         const fs::path& scratch, double timeout, bool emulated) {
    const fs::path dir = scratch / "snapshot";
    const fs::path socket = scratch / "api.sock";
    const UniqueFd null(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    if (!null) {
        throw_errno("cannot open /dev/null", errno);
    }
    std::string failed;  // what a `vm ctl` call said, when it failed
    SampleSpec spec;
    spec.argv = {
        berth.string(),  "vm",       "run",     "--kernel",  kernel.string(),        "--initrd",
        initrd.string(), "--memory", vm_memory, "--cmdline", snapshot_guest_cmdline, "--api-socket",
        socket.string()};
    spec.timeout_seconds = timeout;
    spec.watch_line = snapshot_point;
    spec.on_watch_line = [&] {
        // Give the guest's shell time to reach its read: the snapshot then holds an idle
        // guest. (One taken before would be right too; its restores would run longer.)
        std::this_thread::sleep_for(emulated ? std::chrono::milliseconds(2000)
                                             : std::chrono::milliseconds(200));
        for (const std::string command : {"snapshot", "stop"}) {
            std::vector<std::string> argv{berth.string(), "vm", "ctl", socket.string(), command};
            if (command == "snapshot") {
                argv.push_back(dir.string());
            }
            SpawnRequest ctl(argv);
            ctl.stdin_from_null = true;
            ctl.descriptors = {{null.get(), STDOUT_FILENO}};
            if (const int status = run_to_end(ctl); status != 0 && failed.empty()) {
                failed = fmt::format("berth vm ctl {} failed with status {}", command, status);
            }
        }
    };
    for (int attempt = 0;; ++attempt) {
        std::error_code ignored;
        fs::remove_all(dir, ignored);
        fs::remove(socket, ignored);
        failed.clear();
        const SampleRun run = run_sample(spec);
        if (run.timed_out && attempt == 0) {
            continue;
        }
        if (!run.watch_line_ns || !failed.empty() || !fs::exists(dir / "state")) {
            throw Error(fmt::format(
                "booting the guest to snapshot: {}",
                run.timed_out ? fmt::format("timed out after {:.0f} s twice", timeout)
                : !failed.empty()
                    ? failed
                    : fmt::format("no {} line: {}", quote(snapshot_point), run.last_words())));
        }
        return;
    }
}

// The VM contenders: berth from a cold boot, berth from a snapshot (taken in `scratch`),
// and QEMU microvm when asked for peers.
std::vector<Contender> vm_contenders(const fs::path& berth, const fs::path& kernel,
                                     const fs::path& initrd, const fs::path& scratch, Peers peers,
                                     bool emulated) {
    std::vector<Contender> contenders;
    // In the rig a boot takes 15-60 s, several minutes when the host is busy.
    const double timeout = emulated ? 240 : 30;
    Contender vm;
    vm.runtime.name = "berth vm";
    vm.runtime.mode = "vm";
    vm.runtime.emulated = emulated;
    vm.runtime.how =
        "berth's own marks (BERTH_PHASES, CLOCK_MONOTONIC); spawn and exit seen by the benchmark";
    vm.argv = {berth.string(),  "vm",       "run",     "--kernel",  kernel.string(), "--initrd",
               initrd.string(), "--memory", vm_memory, "--cmdline", guest_cmdline};
    vm.runtime.command = vm.argv;
    vm.berth_marks = true;
    vm.is_berth = true;
    vm.timeout = timeout;
    vm.runtime.phases = {
        {"launch", "launch: spawn -> berth main()"},
        {"vm_setup", "VM + memory: read kernel, create VM, load guest RAM"},
        {"vcpu_start", "vCPU start: devices, vCPUs -> first KVM_RUN"},
        {"kernel_early", "kernel early boot: -> serial console up"},
        {"kernel_init", "kernel init: console -> /init starts"},
        {"guest_user", "guest user space: /init, workload -> debug exit"},
        {"vm_teardown", "teardown: debug exit -> berth exited"},
    };
    vm.ends = {"main", "vm_ready", "vcpu_entry", "console", "guest_init", "guest_exit", "exit"};
    contenders.push_back(std::move(vm));

    Contender restore;
    restore.runtime.name = "berth vm restore";
    restore.runtime.mode = "vm";
    restore.runtime.emulated = emulated;
    restore.runtime.how =
        "VM from snapshot: berth's own marks (BERTH_PHASES, CLOCK_MONOTONIC); the snapshot is "
        "of the same workload's guest, taken by the benchmark while it waited for a console "
        "line just before the marker; each restore gets that line on stdin";
    const fs::path snapshot_dir = scratch / "snapshot";
    restore.argv = {berth.string(), "vm", "run", "--restore", snapshot_dir.string()};
    restore.runtime.command = restore.argv;
    restore.stdin_text = "\n";
    restore.berth_marks = true;
    restore.is_berth = true;
    restore.timeout = timeout;
    restore.prepare = [=] {
        take_bench_snapshot(berth, kernel, initrd, scratch, timeout, emulated);
    };
    restore.runtime.phases = {
        {"launch", "launch: spawn -> berth main()"},
        {"restore", "restore: read snapshot, map memory, devices + vCPU state"},
        {"restore_vcpu", "first guest instruction: vCPUs -> first KVM_RUN"},
        {"restore_guest", "guest: console line, workload marker -> debug exit"},
        {"vm_teardown", "teardown: debug exit -> berth exited"},
    };
    restore.ends = {"main", "restored", "vcpu_entry", "guest_exit", "exit"};
    contenders.push_back(std::move(restore));
    if (peers == Peers::none) {
        return contenders;
    }
    Contender qemu;
    qemu.runtime.name = "qemu microvm";
    qemu.runtime.mode = "vm";
    qemu.runtime.emulated = emulated;
    qemu.runtime.how =
        "seen from outside: first stdout byte, the 'userspace ready' line, process exit";
    qemu.timeout = timeout;
    qemu.runtime.phases = {
        {"qemu_console", "to first console byte (on stdout)"},
        {"qemu_userspace", "to 'userspace ready' line (on stdout)"},
        {"qemu_exit", "workload and exit"},
    };
    qemu.ends = {"first_output", "userspace_line", "exit"};
    const auto binary = find_in_path("qemu-system-x86_64");
    machine::LinuxVmOptions same;
    same.extra_cmdline = guest_cmdline;
    // The same machine as berth's: memory, 1 vCPU, COM1, debug exit, the full command line.
    qemu.argv = {binary ? binary->string() : "qemu-system-x86_64",
                 "-M",
                 "microvm,x-option-roms=off,isa-serial=on,rtc=off",
                 "-accel",
                 "kvm",
                 "-cpu",
                 "host",
                 "-m",
                 "256",
                 "-smp",
                 "1",
                 "-nographic",
                 "-no-reboot",
                 "-nodefaults",
                 "-serial",
                 "stdio",
                 "-device",
                 fmt::format("isa-debug-exit,iobase={:#x},iosize=1", layout::debug_exit_port),
                 "-kernel",
                 kernel.string(),
                 "-initrd",
                 initrd.string(),
                 "-append",
                 machine::linux_cmdline(same)};
    qemu.runtime.command = qemu.argv;
    if (!binary) {
        qemu.runtime.skipped = "not installed (apt-get install qemu-system-x86)";
    }
    // isa-debug-exit turns the guest's status s into (s << 1) | 1: 0 becomes 1.
    qemu.ok_status = 1;
    contenders.push_back(std::move(qemu));
    return contenders;
}

// The runc/crun bundle: `runc spec`'s default, on our rootfs, running the workload
// with the same limits as berth's container.
fs::path make_oci_bundle(const fs::path& runc, const fs::path& dir, const fs::path& rootfs) {
    const fs::path bundle = dir / "bundle";
    fs::create_directories(bundle);
    // A helper's stdout goes to berth's stderr, where the progress is.
    SpawnRequest spec({runc.string(), "spec", "--bundle", bundle.string()});
    spec.stdin_from_null = true;
    spec.descriptors = {{STDERR_FILENO, STDOUT_FILENO}};
    if (run_to_end(spec) != 0) {
        throw Error("runc spec failed");
    }
    std::ifstream in(bundle / "config.json");
    nlohmann::json config = nlohmann::json::parse(in);
    config["root"] = {{"path", rootfs.string()}, {"readonly", false}};
    config["process"]["terminal"] = false;
    config["process"]["args"] = {"/bin/sh", "-c", workload};
    config["linux"]["resources"] = {{"memory", {{"limit", 64 << 20}}}, {"pids", {{"limit", 64}}}};
    std::ofstream(bundle / "config.json") << config.dump(1);
    return bundle;
}

std::vector<Contender> container_contenders(const fs::path& berth, const fs::path& rootfs,
                                            const fs::path& scratch, Peers peers) {
    std::vector<Contender> contenders;
    const std::vector<std::string> shell{"/bin/sh", "-c", workload};
    Contender ct;
    ct.runtime.name = "berth ct";
    ct.runtime.mode = "container";
    ct.runtime.how =
        "berth's own marks (BERTH_PHASES, CLOCK_MONOTONIC), also from the container's init and "
        "command";
    ct.argv = {berth.string(), "ct",  "run",    "--rootfs", rootfs.string(),
               "--memory",     "64M", "--pids", "64",       "--"};
    ct.argv.insert(ct.argv.end(), shell.begin(), shell.end());
    ct.runtime.command = ct.argv;
    ct.berth_marks = true;
    ct.is_berth = true;
    ct.runtime.phases = {
        {"launch", "launch: spawn -> berth main()"},
        {"ct_namespaces", "setup + namespaces: checks, cgroup dirs, clone3"},
        {"ct_cgroup", "cgroup: init moved into its cgroups"},
        {"ct_rootfs", "rootfs: pivot_root, /proc, /dev, /sys (left after cgroup)"},
        {"ct_exec", "security + exec: seccomp, caps, fork -> execve"},
        {"ct_exit", "command and exit: workload, init, berth exited"},
    };
    ct.ends = {"main", "namespaces", "cgroup", "rootfs", "exec", "exit"};
    contenders.push_back(std::move(ct));
    if (peers == Peers::none) {
        return contenders;
    }
    // From outside a container runtime shows only its start and its end (its first
    // stdout byte, kept in the marks, is the workload's own line).
    const std::vector<Phase> total_only{{"total", "start -> exit (only the total is observable)"}};
    const auto peer = [&](const std::string& name, const char* package) {
        Contender contender;
        contender.runtime.name = name;
        contender.runtime.mode = "container";
        contender.runtime.how = "spawn to exit, seen by the benchmark";
        contender.runtime.phases = total_only;
        contender.ends = {"exit"};
        if (!find_in_path(name)) {
            contender.runtime.skipped = fmt::format("not installed (apt-get install {})", package);
        }
        return contender;
    };
    for (const char* oci : {"runc", "crun"}) {
        Contender contender = peer(oci, oci);
        if (contender.runtime.skipped.empty()) {
            const fs::path binary = *find_in_path(oci);
            try {
                const fs::path bundle = make_oci_bundle(binary, scratch / oci, rootfs);
                contender.argv = {binary.string(), "--root",   (scratch / oci / "state").string(),
                                  "run",           "--bundle", bundle.string(),
                                  "{id}"};
            } catch (const std::exception& e) {
                contender.runtime.skipped = fmt::format("cannot make its bundle: {}", e.what());
            }
        }
        contender.runtime.command = contender.argv;
        contenders.push_back(std::move(contender));
    }
    Contender bwrap = peer("bwrap", "bubblewrap");
    // Like for like: bwrap mounting /proc and /dev as berth does (it does no cgroups).
    bwrap.argv = {"bwrap",  "--unshare-all", "--bind", rootfs.string(), "/",
                  "--proc", "/proc",         "--dev",  "/dev"};
    bwrap.argv.insert(bwrap.argv.end(), shell.begin(), shell.end());
    bwrap.runtime.command = bwrap.argv;
    contenders.push_back(std::move(bwrap));
    return contenders;
}

std::vector<Runtime> runtimes_of(std::vector<Contender>& contenders) {
    std::vector<Runtime> runtimes;
    for (auto& contender : contenders) {
        runtimes.push_back(std::move(contender.runtime));
    }
    return runtimes;
}

// The rig for the VM half: --rig, BERTH_RIG, or tools/kvm-rig of the source tree
// this berth was built in (build/berth -> tools/kvm-rig).
fs::path find_rig(const fs::path& given) {
    if (!given.empty()) {
        return given;
    }
    if (const char* env = std::getenv("BERTH_RIG"); env != nullptr && *env != '\0') {
        return env;
    }
    for (fs::path dir = self_exe().parent_path(); dir.has_relative_path();
         dir = dir.parent_path()) {
        if (fs::exists(dir / "tools" / "kvm-rig")) {
            return dir / "tools" / "kvm-rig";
        }
    }
    throw bad_input(
        "the VM half needs tools/kvm-rig here (no KVM that boots Linux) and it was not found; "
        "give --rig PATH or set BERTH_RIG");
}

// Runs this command again inside the rig for the VM half and reads back its samples.
std::vector<Runtime> vm_half_in_rig(const StartupOptions& options, const fs::path& kernel,
                                    const fs::path& initrd) {
    const fs::path rig = find_rig(options.rig);
    const TempDir share("berth-bench-rig-");  // the rig's cwd: writable inside it
    const fs::path out = share.path() / "vm.json";
    std::vector<std::string> argv{rig.string(), "--timeout", "0"};
    // L1 sees the host's files, but a fresh tmpfs on /tmp, /run and /dev/shm: share
    // the folders of berth and its inputs that live there (a CI clone under /tmp).
    std::vector<fs::path> shared;
    for (const fs::path& file : {self_exe(), fs::absolute(kernel), fs::absolute(initrd)}) {
        const fs::path dir = file.parent_path();
        const std::string text = dir.string() + "/";
        const bool hidden =
            text.starts_with("/tmp/") || text.starts_with("/run/") || text.starts_with("/dev/shm/");
        if (hidden && std::find(shared.begin(), shared.end(), dir) == shared.end()) {
            shared.push_back(dir);
            argv.insert(argv.end(), {"--share", dir.string()});
        }
    }
    argv.insert(argv.end(), {"--", self_exe().string(), "bench", "startup", "--vm-only", "--runs",
                             std::to_string(options.runs), "--peers",
                             options.peers == Peers::none ? "none" : "auto", "--kernel",
                             fs::absolute(kernel).string(), "--image",
                             fs::absolute(initrd).string(), "--json", out.string()});
    fmt::print(
        stderr,
        "bench startup: the VM half runs in {} (an emulated machine; about a minute to start)\n",
        rig.string());
    // A sample may be silent up to its timeout (240 s); the rig's watchdog must wait longer.
    if (std::getenv("BERTH_RIG_SILENCE") == nullptr) {
        ::setenv("BERTH_RIG_SILENCE", "600", 1);
    }
    // The rig merges the command's stdout and stderr: progress and any failure go to ours.
    SpawnRequest in_rig(argv);
    in_rig.stdin_from_null = true;
    in_rig.descriptors = {{STDERR_FILENO, STDOUT_FILENO}};
    in_rig.cwd = share.path().string();
    const int status = run_to_end(in_rig);
    if (status != 0 || !fs::exists(out)) {
        throw Error(fmt::format(
            "the VM half failed in {} (status {}{})", rig.string(), status,
            status == 125 ? ": the rig itself failed, see its kvm-rig: line above" : ""));
    }
    std::ifstream in(out);
    return from_json(nlohmann::json::parse(in)).runtimes;
}

}  // namespace

int run_startup_bench(const StartupOptions& options) {
    if (options.runs < 1) {
        throw bad_input(fmt::format("--runs {}: give at least 1", options.runs));
    }
    if (!options.render_from.empty()) {
        BenchResult saved;
        const std::vector<std::uint8_t> text = read_input_file(options.render_from, "--from-json");
        Outputs outputs = Outputs::create(options);
        try {
            saved = from_json(nlohmann::json::parse(text));
        } catch (const nlohmann::json::exception& e) {
            throw bad_input(
                fmt::format("--from-json {} is not a file berth bench startup --json wrote: {}",
                            quote(options.render_from.string()), e.what()));
        }
        std::fputs(format_table(saved).c_str(), stdout);
        write_file(outputs.svg, render_svg(saved));
        return 0;
    }

    // The inputs, checked before anything runs.
    const fs::path kernel = options.kernel.empty() ? newest_kernel() : options.kernel;
    boot::read_bzimage(
        kernel);  // a kernel that cannot boot is bad input now, not a failed run later
    fs::path initrd;
    fs::path rootfs;
    std::optional<TempDir> unpacked;
    BenchResult result;
    result.runs = options.runs;
    result.workload = workload;
    result.kernel = kernel.string();
    if (!options.rootfs.empty()) {
        initrd = options.initrd;
        InitramfsImage::read(initrd).check_serves_both_modes();
        rootfs = options.rootfs;
        std::error_code error;
        // symlink_status: /bin/sh may be an absolute link that only resolves inside.
        if (!fs::is_directory(rootfs) ||
            !fs::exists(fs::symlink_status(rootfs / "bin" / "sh", error))) {
            throw bad_input(fmt::format("--rootfs {} has no /bin/sh to run the workload with",
                                        quote(rootfs.string())));
        }
        result.rootfs = fs::absolute(rootfs).string();
    } else {
        initrd = options.image;
        if (initrd.empty()) {
            initrd = self_exe().parent_path() / "images" / "initramfs.cpio.gz";
            if (!fs::exists(initrd)) {
                throw bad_input(fmt::format(
                    "no --image given and berth's default guest {} is missing; build it "
                    "(ninja -C build) or give --image",
                    initrd.string()));
            }
        }
        const InitramfsImage image = InitramfsImage::read(initrd);
        image.check_serves_both_modes();
        if (options.half != Half::vm_only) {
            unpacked.emplace("berth-bench-rootfs-");
            image.unpack(unpacked->path());
            rootfs = unpacked->path();
        }
        result.rootfs = fmt::format("the same initramfs, unpacked to a directory");
    }
    result.initrd = fs::absolute(initrd).string();
    Outputs outputs = Outputs::create(options);

    const fs::path berth = self_exe();
    const std::string kvm_problem = kvm_cannot_boot_linux();
    if (options.half == Half::vm_only) {
        if (!kvm_problem.empty()) {
            throw Error(fmt::format("--vm-only needs KVM that boots Linux: {}", kvm_problem));
        }
        // Inside the rig: the inputs and berth itself on tmpfs, not read over 9p while timed.
        const bool emulated = in_rig();
        std::optional<TempDir> local;
        fs::path run_berth = berth, run_kernel = kernel, run_initrd = initrd;
        if (emulated) {
            local.emplace("berth-bench-vm-");
            run_berth = local->path() / "berth";
            run_kernel = local->path() / "vmlinuz";
            run_initrd = local->path() / "initrd";
            fs::copy_file(berth, run_berth);
            fs::copy_file(kernel, run_kernel);
            fs::copy_file(initrd, run_initrd);
        }
        const TempDir scratch("berth-bench-snapshot-");
        auto contenders = vm_contenders(run_berth, run_kernel, run_initrd, scratch.path(),
                                        options.peers, emulated);
        measure(contenders, options.runs, !emulated);
        result.runtimes = runtimes_of(contenders);
        if (options.json_file.empty()) {
            std::fputs(format_table(result).c_str(), stdout);
        } else {
            write_file(outputs.json, json_text(result));
        }
        return 0;
    }

    if (options.half == Half::container_only) {
        // No VM rows.
    } else if (kvm_problem.empty()) {
        const TempDir scratch("berth-bench-snapshot-");
        auto contenders =
            vm_contenders(berth, kernel, initrd, scratch.path(), options.peers, false);
        measure(contenders, options.runs, true);
        result.runtimes = runtimes_of(contenders);
    } else {
        result.vm_note = fmt::format(
            "{}, so the VM half ran in tools/kvm-rig, an emulated machine (50-100x slower "
            "than hardware)",
            kvm_problem);
        result.runtimes = vm_half_in_rig(options, kernel, initrd);
    }
    const TempDir scratch("berth-bench-");
    auto contenders = container_contenders(berth, rootfs, scratch.path(), options.peers);
    measure(contenders, options.runs, true);
    for (auto& runtime : runtimes_of(contenders)) {
        result.runtimes.push_back(std::move(runtime));
    }

    std::fputs(format_table(result).c_str(), stdout);
    write_file(outputs.json, json_text(result));
    write_file(outputs.svg, render_svg(result));
    return 0;
}

}  // namespace berth::bench
