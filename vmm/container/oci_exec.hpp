#pragma once
// `berth exec`: another process in a running container, as runc's callers start one
// (conmon for `podman exec`, containerd's shim for `ctr task exec` and `kubectl exec`).
// The process is a runtime-spec process object (`--process FILE`), or the container's
// own config.json process with the command line's args, -t, --cwd, --env and --user in
// place of its own. berth forks it into the container's pid namespace; it joins the
// container's cgroups and its other namespaces (those that differ from berth's), then
// takes the same last steps as the container's command (container_init.hpp: session,
// terminal, workdir, capabilities, user, no_new_privs, seccomp) and execs.
// Without -d, berth waits for it, passing signals on (and relaying the terminal with -t
// and no --console-socket), and returns its status; with -d it returns once the
// process has exec'd, which then outlives berth (its caller, a subreaper, reaps it).

#include <string>
#include <vector>

#include "vmm/container/oci_state.hpp"

namespace berth::container::oci {

struct ExecRequest {
    std::string id;
    std::string process_file;          // --process: a process object (JSON); or
    std::vector<std::string> command;  // the args, with the container's process for the rest
    bool tty = false;                  // -t
    std::string cwd;                   // --cwd
    std::vector<std::string> env;      // --env K=V, added to (or replacing) the process's
    std::string user;                  // --user UID[:GID]
    bool detach = false;               // -d
    std::string pid_file;              // the process's host pid is written here
    std::string console_socket;        // with a terminal: where its master goes
    unsigned preserve_fds = 0;         // descriptors 3.. of berth's caller kept for it
};

// The process's exit status (0 with -d). Bad input (a malformed --process, no such
// container, a stopped or paused one) is an Error, and nothing is started.
int exec(const StateStore& store, const ExecRequest& request);

}  // namespace berth::container::oci
