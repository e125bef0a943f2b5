#pragma once
// What berth keeps of each OCI container under `--root` (default /run/berth/oci), one
// directory per container ID, so that `create`, `start`, `state`, `kill` and `delete`
// (separate runs of berth) share it: the record (the spec's state, plus what delete
// needs: the cgroup directories) and the start FIFO (start_gate.hpp). The status is
// never stored: it is read from the processes and the FIFO each time, as the spec's
// state is "the state at the time of the query".

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vmm/container/run_options.hpp"

namespace berth::container::oci {

enum class Status { created, running, paused, stopped };
const char* name_of(Status status);

struct ContainerRecord {
    std::string id;
    std::string bundle;
    std::string rootfs;  // absolute (`list --format json` shows it)
    pid_t pid = 0;       // init's, on the host
    // Init's start time (/proc/PID/stat): the pid is still the container's only while
    // it matches, not once a new process has been given the same number.
    std::uint64_t start_time = 0;
    std::map<std::string, std::string> annotations;
    std::vector<std::string> cgroups;  // directories to remove on delete
    std::string created;               // RFC 3339, UTC
};

// A container ID as runc takes it: 1 to 1024 of letters, digits, '_', '+', '-', '.',
// not "." or "..". Bad input otherwise.
void check_container_id(std::string_view id);

class StateStore {
public:
    explicit StateStore(std::string root) : root_(std::move(root)) {}

    const std::string& root() const { return root_; }
    std::string directory(const std::string& id) const { return root_ + "/" + id; }
    std::string start_fifo(const std::string& id) const { return directory(id) + "/start.fifo"; }

    // Makes ID's directory (and the root, mode 0700), with the calling process noted as
    // its creator until the record is saved; an ID in use is bad input.
    void reserve(const std::string& id) const;
    // Whether the berth that reserved ID (and has not saved its record) still runs.
    bool creator_alive(const std::string& id) const;
    // The IDs with a directory here, sorted.
    std::vector<std::string> ids() const;
    // Writes the record (atomically: a reader sees the old one or the new one).
    void save(const ContainerRecord& record) const;
    // Throws a bad-input Error when there is no such container.
    ContainerRecord load(const std::string& id) const;
    bool exists(const std::string& id) const;
    // The container's seccomp program (linux.seccomp compiled at create), which `berth
    // exec` loads too, whether or not the bundle's config.json is still there.
    void save_seccomp(const std::string& id, const SeccompFilter& filter) const;
    std::optional<SeccompFilter> load_seccomp(const std::string& id) const;
    // The container's directory and everything in it.
    void remove(const std::string& id) const;

private:
    std::string root_;
};

// The start time of `pid` (/proc/PID/stat), or nullopt when it has exited (a zombie
// has exited too).
std::optional<std::uint64_t> process_start_time(pid_t pid);
// Whether the record's init still runs.
bool init_alive(const ContainerRecord& record);
// Created (init waits at the start gate), running, paused (its freezer cgroup is
// frozen) or stopped (init is gone).
Status status_of(const StateStore& store, const ContainerRecord& record);
// The host pids of the container's processes: those in init's pid namespace; none once
// init has gone.
std::vector<pid_t> container_pids(const ContainerRecord& record);
// The runtime spec's state document.
std::string state_json(const ContainerRecord& record, Status status);
// Now, RFC 3339 in UTC with nanoseconds ("2026-12-06T01:22:19.074278911Z").
std::string rfc3339_now();

// A compiled seccomp program in a file of its own: the flags (4 bytes), then the
// instructions. Loading a file that is not there gives none; a damaged one an Error.
void save_seccomp_file(const std::string& path, const SeccompFilter& filter);
std::optional<SeccompFilter> load_seccomp_file(const std::string& path);

}  // namespace berth::container::oci
