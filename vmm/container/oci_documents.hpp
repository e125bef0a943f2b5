#pragma once
// The two documents berth writes without a container: `berth features` (the
// runtime-spec's features.md: what this runtime can apply, for callers to check before
// they hand it a config) and `berth spec` (a starting config.json). Both list only what
// berth applies; a field berth would refuse or ignore is left out.

#include <string>

namespace berth::container::oci {

// features.md's document, indented.
std::string features_json();

// A config.json for a bundle whose root filesystem is BUNDLE/rootfs (read-only), running
// `sh` on a terminal as root with a small capability set, in new pid, network, ipc,
// uts, mount and cgroup namespaces.
std::string default_spec_json();

// `berth spec`: writes default_spec_json() to BUNDLE/config.json; one already there is
// bad input (it is never overwritten).
void write_default_spec(const std::string& bundle);

}  // namespace berth::container::oci
