#pragma once
// The gate between an OCI `create` and `start`: a FIFO in the container's state
// directory. `create` makes it and hands init a descriptor of it (O_PATH, opened before
// pivot_root hides the host's paths); init, with the container built, tells berth
// `awaiting_start` and then opens the FIFO for writing, which blocks until `berth start`
// opens it for reading. Init writes one byte and starts the command; `start` reads the
// byte, so it knows init went through, and removes the FIFO: a container whose FIFO is
// gone has started. A process blocked in open() needs no thread, no timer and no
// supervisor: `create` can exit and leave init waiting.

#include <sys/types.h>

#include <functional>
#include <string>

#include "vmm/common/unique_fd.hpp"
#include "vmm/container/init_channel.hpp"

namespace berth::container {

// create: makes the FIFO at `path` (mode 0600) and returns an O_PATH descriptor of it
// for init. Throws Error.
UniqueFd make_start_gate(const std::string& path);

// init: sends awaiting_start on `berth`, waits for `recorded` (its absence, the channel's
// end, is an Error: create died), then waits until the gate opens. Throws Error.
void wait_at_start_gate(const InitChannel& berth, int gate);

// start: opens the gate and waits until init has gone through (or `init_alive` says it
// has died: an Error then), then removes the FIFO.
void open_start_gate(const std::string& path, const std::function<bool()>& init_alive);

}  // namespace berth::container
