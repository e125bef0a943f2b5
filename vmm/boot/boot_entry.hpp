#pragma once
// The default boot entry of an installed Linux system, from the text of its boot
// loader's configuration: GRUB's grub.cfg, or Boot Loader Specification entries
// (/loader/entries/*.conf, systemd-boot and Fedora's GRUB). berth reads what the boot
// loader would boot and boots it directly, without firmware or the boot loader.
//
// grub.cfg is a script; berth follows the subset that update-grub and grub2-mkconfig
// write: `set NAME=VALUE` and `NAME=VALUE`, $NAME and ${NAME} (unset: empty), quoting,
// menuentry and submenu blocks, `set default=` (a number, "N>M", a title or an id; a
// default that is only a variable, such as ${saved_entry}, is passed over, so GRUB's
// fallback, entry 0, applies), and linux/initrd commands. Conditions are not
// evaluated: every branch's assignments count, the last non-empty one wins.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace berth::boot {

struct BootEntry {
    std::string title;
    std::string kernel;                // the path in the configuration's file system
    std::vector<std::string> initrds;  // in order; Linux takes them concatenated
    std::string options;               // the kernel command line, as the entry gives it
};

// The entry GRUB boots by default. nullopt when the file has no menuentry; an entry
// without a linux command has an empty kernel.
std::optional<BootEntry> grub_default_entry(std::string_view grub_cfg);

// The BLS entry a boot loader boots by default: the one /loader/loader.conf's
// `default GLOB` names, otherwise the first in the specification's order (sort-key,
// then version, newest first, then file name, last first). `entries` are (file name,
// text) pairs. nullopt when there are none.
std::optional<BootEntry> bls_default_entry(
    const std::vector<std::pair<std::string, std::string>>& entries, std::string_view loader_conf);

// `options` without what names a console or early console (console=, earlyprintk=,
// earlycon) or the boot loader's own BOOT_IMAGE=: berth puts its console in front.
std::string without_console_options(std::string_view options);

}  // namespace berth::boot
