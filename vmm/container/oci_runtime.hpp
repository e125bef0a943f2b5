#pragma once
// berth as an OCI runtime: the operations of the runtime spec's lifecycle, as separate
// runs of berth that share the state under `--root` (oci_state.hpp):
//   create  builds the container from a bundle's config.json with the code `berth ct
//           run` uses, and returns with init waiting at the start gate; init, its
//           namespaces and its cgroups outlive berth (init's parent becomes whoever
//           reaps orphans: conmon and containerd's shim make themselves subreapers)
//   start   opens the gate: init starts the command
//   state   the spec's state JSON, the status read from the processes each time
//   kill    a signal to init, which passes the usual ones on to the command
//   delete  kills what is left, removes the cgroups and the state
//   run     create + start, then waits for the command (its status) and deletes
//   pause   freezes the container's processes (its freezer cgroup); resume thaws them
//   update  new memory, pids and cpu limits in the container's cgroups
//   ps      the container's processes; list: the containers under --root
// `exec` (oci_exec.hpp) runs another process in a running container.
// Errors are berth::Error: bad input (a malformed config.json, an ID in use) status 2,
// the rest status 1, as runc's callers expect a non-zero status and read the message.

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "vmm/container/oci_spec.hpp"
#include "vmm/container/oci_state.hpp"

namespace berth::container::oci {

struct CreateRequest {
    std::string id;
    std::string bundle;    // the directory holding config.json
    std::string pid_file;  // empty: none; else init's pid is written there
    // With process.terminal: a unix socket that gets the pseudo-terminal's master.
    std::string console_socket;
    // --preserve-fds N: descriptors 3 to 3+N-1 of berth's caller go on to the command.
    unsigned preserve_fds = 0;
};

void create(const StateStore& store, const CreateRequest& request);
// create + start; without `detach` waits for the command, relaying the terminal when
// there is one and no console socket, deletes the container and returns the
// command's status. With `detach` returns 0 once the command has started.
int run(const StateStore& store, const CreateRequest& request, bool detach);
void start(const StateStore& store, const std::string& id);
std::string state(const StateStore& store, const std::string& id);
void kill(const StateStore& store, const std::string& id, int signal);
enum class DeleteMode { stopped_only, force };
void remove(const StateStore& store, const std::string& id, DeleteMode mode);
void pause(const StateStore& store, const std::string& id);
void resume(const StateStore& store, const std::string& id);
// New cgroup limits for a created, running or paused container (cgroup_update.hpp).
void update(const StateStore& store, const std::string& id, const Resources& resources);
// The host pids of the container's processes.
std::vector<pid_t> processes(const StateStore& store, const std::string& id);

struct ListedContainer {
    ContainerRecord record;
    Status status{};
    std::string owner;  // the user name of the state directory's owner
};
std::vector<ListedContainer> list(const StateStore& store);

// "TERM", "SIGTERM", "term" or "15"; bad input otherwise.
int parse_signal(std::string_view text);

}  // namespace berth::container::oci
