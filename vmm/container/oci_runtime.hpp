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
// Errors are berth::Error: bad input (a malformed config.json, an ID in use) status 2,
// the rest status 1, as runc's callers expect a non-zero status and read the message.

#include <string>
#include <string_view>

#include "vmm/container/oci_state.hpp"

namespace berth::container::oci {

struct CreateRequest {
    std::string id;
    std::string bundle;    // the directory holding config.json
    std::string pid_file;  // empty: none; else init's pid is written there
    // With process.terminal: a unix socket that gets the pseudo-terminal's master.
    std::string console_socket;
};

void create(const StateStore& store, const CreateRequest& request);
void start(const StateStore& store, const std::string& id);
std::string state(const StateStore& store, const std::string& id);
void kill(const StateStore& store, const std::string& id, int signal);
enum class DeleteMode { stopped_only, force };
void remove(const StateStore& store, const std::string& id, DeleteMode mode);

// "TERM", "SIGTERM", "term" or "15"; bad input otherwise.
int parse_signal(std::string_view text);

}  // namespace berth::container::oci
