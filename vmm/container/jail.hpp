#pragma once
// `berth vm run --jail DIR`: the VMM in a jail, as Firecracker's jailer puts firecracker
// in one. berth stays outside as a supervisor; a child made with clone3 gets mount, pid,
// ipc, uts and cgroup namespaces of its own (a network namespace too when the guest has
// no user-mode NIC, a user namespace when berth runs unprivileged), moves into a cgroup
// of its own (as root), mounts an empty tmpfs over DIR in its private mount namespace,
// binds into it the files the command line named and the devices the VMM opens,
// pivot_roots into it, drops every capability, sets no_new_privs and only then runs the
// VMM, whose per-thread seccomp filters install as without a jail.
//
// Nothing is written into DIR on the host: the tmpfs and the binds exist in the jail's
// mount namespace only and go with it, the cgroup is removed once the child is reaped,
// and a DIR that did not exist is created and removed again. The namespace and pivot
// steps are the container's (rootfs_setup, container_mounts, user_namespace, security,
// container_cgroup); the machine knows nothing of the jail, it only sees other paths.
//
// Paths are resolved and checked on the host, with the user's spelling in errors; the
// VMM sees each file at /NAME (its base name; "/2-NAME" when taken) and the directory
// of an API socket at /run/api. An error the VMM raises inside names the user's paths
// again (user_spelling).

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "vmm/container/container_mounts.hpp"

namespace berth::container {

// The network the VMM keeps: none (a network namespace of its own, empty) or the
// host's (--net user: libslirp's sockets are the host's).
enum class JailNetwork { none, host };

class Jail {
public:
    // Checks DIR: an existing directory, or a missing one whose parent exists (berth
    // creates it and removes it afterwards). Bad input otherwise. `flag` names it.
    static Jail plan(const std::string& dir, const std::string& flag);

    // A file the VMM opens: resolved (symlinks followed) and checked now, readable and,
    // when `writable`, writable; bound into the jail (read-only unless `writable`).
    // Returns the path the VMM is to open. `what` names it in errors ("--kernel").
    std::filesystem::path add_file(const std::filesystem::path& path, bool writable,
                                   const std::string& what);
    // A host device the VMM opens (/dev/kvm), bound at the same path.
    void add_device(const std::string& path);
    // A host file bound read-only at the same path when it exists (/etc/resolv.conf).
    void add_optional_file(const std::string& path);
    // The directory of a socket the VMM creates (--api-socket), bound writable at
    // /run/api; returns the socket's path in the jail.
    std::filesystem::path add_socket(const std::filesystem::path& socket, const std::string& what);
    void set_network(JailNetwork network) { network_ = network; }

    // `message` with each in-jail path the VMM was given replaced by the user's.
    std::string user_spelling(std::string_view message) const;

    // Runs `vmm` in the jail and returns its exit status (128 + N when a signal N ended
    // it). Errors in setting the jail up are thrown here (outside) or reported by the
    // child as one line (inside), as main reports errors; `vmm`'s errors too, in the
    // user's spelling.
    int run(const std::function<int()>& vmm) const;

    const std::string& directory() const { return directory_; }

private:
    std::string jail_name(const std::filesystem::path& path);

    std::string directory_;  // absolute
    bool create_directory_ = false;
    JailNetwork network_ = JailNetwork::none;
    std::vector<Mount> binds_;
    // What the VMM is told, and what the user wrote, for user_spelling.
    std::vector<std::pair<std::string, std::string>> spellings_;
};

}  // namespace berth::container
