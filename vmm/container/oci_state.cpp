#include "vmm/container/oci_state.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "vmm/common/error.hpp"
#include "vmm/common/file.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/container/cgroup_freezer.hpp"
#include "vmm/container/oci_spec.hpp"

namespace berth::container::oci {

namespace {

using nlohmann::json;

constexpr const char* record_file = "/record.json";
// "PID START_TIME" of the berth create that reserved the directory.
constexpr const char* creator_file = "/creator";
// The flags (4 bytes), then the program's instructions, in this machine's byte order.
constexpr const char* seccomp_file = "/seccomp.bpf";

}  // namespace

const char* name_of(Status status) {
    switch (status) {
        case Status::created:
            return "created";
        case Status::running:
            return "running";
        case Status::paused:
            return "paused";
        case Status::stopped:
            return "stopped";
    }
    return "unknown";
}

void check_container_id(std::string_view id) {
    bool ok = !id.empty() && id.size() <= 1024 && id != "." && id != "..";
    for (const char c : id) {
        ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '+' ||
                    c == '-' || c == '.');
    }
    if (!ok) {
        throw bad_input(fmt::format(
            "container ID {} must be 1 to 1024 letters, digits, '_', '+', '-' or '.'", quote(id)));
    }
}

void StateStore::reserve(const std::string& id) const {
    std::error_code error;
    std::filesystem::create_directories(root_, error);
    if (error) {
        throw bad_input(
            fmt::format("cannot create the state directory {}: {}", quote(root_), error.message()));
    }
    ::chmod(root_.c_str(), 0700);
    // mkdir is the lock: of two creates of the same ID, exactly one gets it.
    if (::mkdir(directory(id).c_str(), 0700) != 0) {
        if (errno == EEXIST) {
            throw bad_input(fmt::format("container {} exists; delete it first or choose another ID",
                                        quote(id)));
        }
        throw_errno(fmt::format("cannot create the state directory {}", quote(directory(id))),
                    errno);
    }
    const pid_t self = ::getpid();
    OutputFile creator = OutputFile::create(directory(id) + creator_file, "container creator");
    creator.write(fmt::format("{} {}", self, process_start_time(self).value_or(0)));
    creator.commit();
}

bool StateStore::creator_alive(const std::string& id) const {
    std::ifstream file(directory(id) + creator_file);
    pid_t pid = 0;
    std::uint64_t start_time = 0;
    return file >> pid >> start_time && pid > 0 && process_start_time(pid) == start_time;
}

std::vector<std::string> StateStore::ids() const {
    std::vector<std::string> ids;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(root_, error)) {
        if (entry.is_directory()) {
            ids.push_back(entry.path().filename().string());
        }
    }
    std::sort(ids.begin(), ids.end());
    return ids;
}

void StateStore::save(const ContainerRecord& record) const {
    json document = {
        {"id", record.id},
        {"bundle", record.bundle},
        {"rootfs", record.rootfs},
        {"pid", record.pid},
        {"startTime", record.start_time},
        {"annotations", record.annotations},
        {"cgroups", record.cgroups},
        {"created", record.created},
    };
    OutputFile file = OutputFile::create(directory(record.id) + record_file, "container state");
    file.write(document.dump());
    file.commit();
    ::unlink((directory(record.id) + creator_file).c_str());
}

void StateStore::save_seccomp(const std::string& id, const SeccompFilter& filter) const {
    save_seccomp_file(directory(id) + seccomp_file, filter);
}

std::optional<SeccompFilter> StateStore::load_seccomp(const std::string& id) const {
    return load_seccomp_file(directory(id) + seccomp_file);
}

void save_seccomp_file(const std::string& path, const SeccompFilter& filter) {
    OutputFile file = OutputFile::create(path, "container seccomp filter");
    const std::uint32_t flags = filter.flags;
    file.write(std::string_view(reinterpret_cast<const char*>(&flags), sizeof flags));
    file.write(std::string_view(reinterpret_cast<const char*>(filter.program.data()),
                                filter.program.size() * sizeof(sock_filter)));
    file.commit();
}

std::optional<SeccompFilter> load_seccomp_file(const std::string& path) {
    if (::access(path.c_str(), F_OK) != 0) {
        return std::nullopt;
    }
    const std::vector<std::uint8_t> bytes =
        read_input_file(path, "container seccomp filter", 1 << 20);
    std::uint32_t flags = 0;
    if (bytes.size() < sizeof flags + sizeof(sock_filter) ||
        (bytes.size() - sizeof flags) % sizeof(sock_filter) != 0) {
        throw Error(fmt::format("{} is damaged ({} bytes)", quote(path), bytes.size()));
    }
    std::memcpy(&flags, bytes.data(), sizeof flags);
    SeccompFilter filter;
    filter.flags = flags;
    filter.program.resize((bytes.size() - sizeof flags) / sizeof(sock_filter));
    std::memcpy(filter.program.data(), bytes.data() + sizeof flags,
                filter.program.size() * sizeof(sock_filter));
    return filter;
}

bool StateStore::exists(const std::string& id) const {
    return ::access((directory(id) + record_file).c_str(), F_OK) == 0;
}

ContainerRecord StateStore::load(const std::string& id) const {
    std::ifstream file(directory(id) + record_file);
    if (!file) {
        throw bad_input(fmt::format("container {} does not exist (state directory {})", quote(id),
                                    quote(root_)));
    }
    try {
        const json document = json::parse(file);
        ContainerRecord record;
        record.id = document.at("id").get<std::string>();
        record.bundle = document.at("bundle").get<std::string>();
        record.rootfs = document.value("rootfs", std::string());
        record.pid = document.at("pid").get<pid_t>();
        record.start_time = document.at("startTime").get<std::uint64_t>();
        record.annotations = document.at("annotations").get<std::map<std::string, std::string>>();
        record.cgroups = document.at("cgroups").get<std::vector<std::string>>();
        record.created = document.at("created").get<std::string>();
        return record;
    } catch (const json::exception& e) {
        throw Error(
            fmt::format("container {}: its state file is damaged ({}); berth delete "
                        "--force removes it",
                        quote(id), e.what()));
    }
}

void StateStore::remove(const std::string& id) const {
    std::error_code error;
    std::filesystem::remove_all(directory(id), error);
    if (error) {
        throw Error(fmt::format("cannot remove the state directory {}: {}", quote(directory(id)),
                                error.message()));
    }
}

std::optional<std::uint64_t> process_start_time(pid_t pid) {
    std::ifstream file(fmt::format("/proc/{}/stat", pid));
    std::stringstream text;
    text << file.rdbuf();
    const std::string stat = text.str();
    // "PID (COMM) STATE ..." where COMM may hold anything, ')' included: fields are
    // counted from the last ')'. STATE is field 3, the start time field 22.
    const auto close = stat.rfind(')');
    if (close == std::string::npos) {
        return std::nullopt;
    }
    std::istringstream fields(stat.substr(close + 1));
    std::string state;
    fields >> state;
    if (state == "Z" || state == "X") {
        return std::nullopt;
    }
    std::string skip;
    for (int field = 4; field < 22; ++field) {
        fields >> skip;
    }
    std::uint64_t start_time = 0;
    if (!(fields >> start_time)) {
        return std::nullopt;
    }
    return start_time;
}

bool init_alive(const ContainerRecord& record) {
    return process_start_time(record.pid) == record.start_time;
}

Status status_of(const StateStore& store, const ContainerRecord& record) {
    if (!init_alive(record)) {
        return Status::stopped;
    }
    if (::access(store.start_fifo(record.id).c_str(), F_OK) == 0) {
        return Status::created;
    }
    const std::string freezer = freezer_directory(record.cgroups);
    return !freezer.empty() && is_frozen(freezer) ? Status::paused : Status::running;
}

std::vector<pid_t> container_pids(const ContainerRecord& record) {
    std::vector<pid_t> pids;
    struct stat init_ns {};
    if (!init_alive(record) ||
        ::stat(fmt::format("/proc/{}/ns/pid", record.pid).c_str(), &init_ns) != 0) {
        return pids;
    }
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", error)) {
        const std::string name = entry.path().filename().string();
        if (name.empty() || !std::isdigit(static_cast<unsigned char>(name.front()))) {
            continue;
        }
        struct stat ns {};
        if (::stat((entry.path() / "ns/pid").c_str(), &ns) == 0 && ns.st_ino == init_ns.st_ino &&
            ns.st_dev == init_ns.st_dev) {
            pids.push_back(static_cast<pid_t>(std::stol(name)));
        }
    }
    std::sort(pids.begin(), pids.end());
    return pids;
}

std::string state_json(const ContainerRecord& record, Status status) {
    json document = {
        {"ociVersion", std::string(spec_version)},
        {"id", record.id},
        {"status", name_of(status)},
        {"pid", status == Status::stopped ? 0 : record.pid},
        {"bundle", record.bundle},
        {"created", record.created},
    };
    if (!record.annotations.empty()) {
        document["annotations"] = record.annotations;
    }
    return document.dump(2);
}

std::string rfc3339_now() {
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    std::tm utc{};
    ::gmtime_r(&now.tv_sec, &utc);
    char date[32];
    std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &utc);
    return fmt::format("{}.{:09}Z", date, now.tv_nsec);
}

}  // namespace berth::container::oci
