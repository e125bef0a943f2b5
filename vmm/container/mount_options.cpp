#include "vmm/container/mount_options.hpp"

#include <sys/mount.h>

#include <algorithm>
#include <array>
#include <utility>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"

namespace berth::container {

namespace {

struct FlagOption {
    std::string_view name;
    unsigned long flag;
    bool clears;
};

// The generic options mount(8) and runc know, as mount(2) flags.
constexpr std::array flag_options{
    FlagOption{"ro", MS_RDONLY, false},
    FlagOption{"rw", MS_RDONLY, true},
    FlagOption{"nosuid", MS_NOSUID, false},
    FlagOption{"suid", MS_NOSUID, true},
    FlagOption{"nodev", MS_NODEV, false},
    FlagOption{"dev", MS_NODEV, true},
    FlagOption{"noexec", MS_NOEXEC, false},
    FlagOption{"exec", MS_NOEXEC, true},
    FlagOption{"sync", MS_SYNCHRONOUS, false},
    FlagOption{"async", MS_SYNCHRONOUS, true},
    FlagOption{"dirsync", MS_DIRSYNC, false},
    FlagOption{"mand", MS_MANDLOCK, false},
    FlagOption{"nomand", MS_MANDLOCK, true},
    FlagOption{"noatime", MS_NOATIME, false},
    FlagOption{"atime", MS_NOATIME, true},
    FlagOption{"nodiratime", MS_NODIRATIME, false},
    FlagOption{"diratime", MS_NODIRATIME, true},
    FlagOption{"relatime", MS_RELATIME, false},
    FlagOption{"norelatime", MS_RELATIME, true},
    FlagOption{"strictatime", MS_STRICTATIME, false},
    FlagOption{"nostrictatime", MS_STRICTATIME, true},
    FlagOption{"lazytime", MS_LAZYTIME, false},
    FlagOption{"nolazytime", MS_LAZYTIME, true},
    FlagOption{"silent", MS_SILENT, false},
    FlagOption{"loud", MS_SILENT, true},
};

constexpr std::array<std::pair<std::string_view, unsigned long>, 8> propagations{{
    {"private", MS_PRIVATE},
    {"rprivate", MS_PRIVATE | MS_REC},
    {"shared", MS_SHARED},
    {"rshared", MS_SHARED | MS_REC},
    {"slave", MS_SLAVE},
    {"rslave", MS_SLAVE | MS_REC},
    {"unbindable", MS_UNBINDABLE},
    {"runbindable", MS_UNBINDABLE | MS_REC},
}};

// Options runc or crun know that berth does not apply: refused by name rather than
// passed to the kernel, which would reject them with a bare EINVAL.
constexpr std::array<std::string_view, 22> unsupported{
    "remount",      "idmap",          "ridmap",      "rro",       "rrw",
    "rnosuid",      "rsuid",          "rnodev",      "rdev",      "rnoexec",
    "rexec",        "rnoatime",       "ratime",      "rrelatime", "rnorelatime",
    "rstrictatime", "rnostrictatime", "rnodiratime", "rdiratime", "nosymfollow",
    "rnosymfollow", "copy-symlink",
};

enum class Value { none, octal, number, size, word };

struct DataOption {
    std::string_view type;
    std::string_view name;
    Value value;
    std::string_view words = {};  // Value::word: the accepted ones, comma-separated
};

// Each filesystem's own options (its mount(2) data): name and the form of the value.
constexpr std::array data_options{
    DataOption{"tmpfs", "size", Value::size},
    DataOption{"tmpfs", "nr_blocks", Value::size},
    DataOption{"tmpfs", "nr_inodes", Value::size},
    DataOption{"tmpfs", "mode", Value::octal},
    DataOption{"tmpfs", "uid", Value::number},
    DataOption{"tmpfs", "gid", Value::number},
    DataOption{"tmpfs", "huge", Value::word, "never,always,within_size,advise,deny,force"},
    DataOption{"tmpfs", "inode32", Value::none},
    DataOption{"tmpfs", "inode64", Value::none},
    DataOption{"tmpfs", "noswap", Value::none},
    DataOption{"devpts", "newinstance", Value::none},
    DataOption{"devpts", "ptmxmode", Value::octal},
    DataOption{"devpts", "mode", Value::octal},
    DataOption{"devpts", "gid", Value::number},
    DataOption{"devpts", "uid", Value::number},
    DataOption{"devpts", "max", Value::number},
    DataOption{"proc", "hidepid", Value::word, "0,1,2,off,noaccess,invisible,ptraceable"},
    DataOption{"proc", "gid", Value::number},
    DataOption{"proc", "subset", Value::word, "pid"},
};

bool every_char(std::string_view text, int (*is)(int)) {
    return !text.empty() && std::all_of(text.begin(), text.end(), [is](char c) {
        return is(static_cast<unsigned char>(c)) != 0;
    });
}

int is_octal(int c) {
    return c >= '0' && c <= '7';
}
int is_digit(int c) {
    return c >= '0' && c <= '9';
}

// "64m", "65536k", "50%", "1G", "1024"
bool is_size(std::string_view text) {
    if (!text.empty() &&
        std::string_view("kKmMgGtTpPeE%").find(text.back()) != std::string_view::npos) {
        text.remove_suffix(1);
    }
    return every_char(text, is_digit);
}

bool value_fits(const DataOption& option, std::string_view value) {
    switch (option.value) {
        case Value::none:
            return false;  // never called with a value
        case Value::octal:
            return every_char(value, is_octal) && value.size() <= 5;
        case Value::number:
            return every_char(value, is_digit) && value.size() <= 10;
        case Value::size:
            return is_size(value);
        case Value::word:
            for (std::string_view words = option.words; !words.empty();) {
                const auto comma = words.find(',');
                if (words.substr(0, comma) == value) {
                    return true;
                }
                words =
                    comma == std::string_view::npos ? std::string_view() : words.substr(comma + 1);
            }
            return false;
    }
    return false;
}

std::string_view expected_form(const DataOption& option) {
    switch (option.value) {
        case Value::octal:
            return "an octal mode like 755";
        case Value::number:
            return "a number";
        case Value::size:
            return "a size like 65536k, 64m or 50%";
        case Value::word:
            return option.words;
        case Value::none:
            break;
    }
    return "no value";
}

}  // namespace

std::vector<std::string> generic_mount_options() {
    std::vector<std::string> names{"bind", "rbind"};
    for (const auto& option : flag_options) {
        names.emplace_back(option.name);
    }
    for (const auto& [name, flags] : propagations) {
        names.emplace_back(name);
    }
    return names;
}

unsigned long propagation_flags(std::string_view name) {
    for (const auto& [known, flags] : propagations) {
        if (known == name) {
            return flags;
        }
    }
    return 0;
}

MountOptions parse_mount_options(std::string_view type, const std::vector<std::string>& options,
                                 const std::string& path) {
    MountOptions result;
    const auto has = [&](std::string_view option) {
        return std::find(options.begin(), options.end(), option) != options.end();
    };
    result.bind = type == "bind" || has("bind") || has("rbind");
    result.recursive = has("rbind");
    std::string_view fs = result.bind ? "bind" : type;
    if (type.empty() && !result.bind) {
        throw bad_input(fmt::format(
            "{}.type: is missing (and no bind or rbind option makes it a bind mount)", path));
    }
    constexpr std::array<std::string_view, 7> filesystems{"tmpfs",  "proc",   "sysfs",  "devpts",
                                                          "mqueue", "cgroup", "cgroup2"};
    if (!result.bind &&
        std::find(filesystems.begin(), filesystems.end(), type) == filesystems.end()) {
        throw bad_input(fmt::format("{}.type: {} is not a mount type berth applies ({})", path,
                                    quote(type), mount_types));
    }
    if (result.bind && !type.empty() && type != "bind" && type != "none") {
        // runc binds whatever the type says; a bind of a named filesystem is a mistake.
        throw bad_input(
            fmt::format("{}.type: {} with a bind option; a bind mount's type is bind or none", path,
                        quote(type)));
    }
    for (std::size_t i = 0; i < options.size(); ++i) {
        const std::string& option = options[i];
        const std::string where = fmt::format("{}.options[{}]", path, i);
        if (option == "bind" || option == "rbind") {
            continue;
        }
        if (option == "tmpcopyup" || option == "notmpcopyup") {
            if (fs != "tmpfs") {
                throw bad_input(
                    fmt::format("{}: {} is for tmpfs mounts only", where, quote(option)));
            }
            result.copy_up = option == "tmpcopyup";
            continue;
        }
        if (const unsigned long flags = propagation_flags(option)) {
            result.propagation = flags;
            continue;
        }
        const auto flag =
            std::find_if(flag_options.begin(), flag_options.end(),
                         [&](const FlagOption& known) { return known.name == option; });
        if (flag != flag_options.end()) {
            if (flag->clears) {
                result.flags &= ~flag->flag;
                result.cleared |= flag->flag;
            } else {
                result.flags |= flag->flag;
                result.cleared &= ~flag->flag;
            }
            continue;
        }
        if (std::find(unsupported.begin(), unsupported.end(), option) != unsupported.end()) {
            throw bad_input(
                fmt::format("{}: {} is not supported by berth yet", where, quote(option)));
        }
        const auto equals = option.find('=');
        const std::string_view name = std::string_view(option).substr(0, equals);
        const auto known =
            std::find_if(data_options.begin(), data_options.end(),
                         [&](const DataOption& d) { return d.type == fs && d.name == name; });
        if (known == data_options.end()) {
            throw bad_input(
                fmt::format("{}: unknown option {} for a {} mount", where, quote(option), fs));
        }
        const bool has_value = equals != std::string::npos;
        if (has_value != (known->value != Value::none) ||
            (has_value && !value_fits(*known, std::string_view(option).substr(equals + 1)))) {
            throw bad_input(fmt::format("{}: {} wants {}", where, quote(option),
                                        has_value || known->value == Value::none
                                            ? fmt::format("{}", expected_form(*known))
                                            : fmt::format("{}={}", name, expected_form(*known))));
        }
        result.data += result.data.empty() ? option : "," + option;
    }
    return result;
}

}  // namespace berth::container
