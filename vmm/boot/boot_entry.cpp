#include "vmm/boot/boot_entry.hpp"

#include <fnmatch.h>
#include <string.h>  // strverscmp

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>

namespace berth::boot {

namespace {

// A '$' that came from single quotes is literal: kept as this byte until expansion.
constexpr char literal_dollar = '\x01';

// One command of the script: its words, quotes removed, variables not yet expanded.
using Command = std::vector<std::string>;

std::vector<Command> split_commands(std::string_view text) {
    std::vector<Command> commands;
    Command command;
    std::string word;
    bool in_word = false;
    const auto end_word = [&] {
        if (in_word) {
            command.push_back(word);
        }
        word.clear();
        in_word = false;
    };
    const auto end_command = [&] {
        end_word();
        if (!command.empty()) {
            commands.push_back(command);
        }
        command.clear();
    };
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '\n' || c == ';') {
            end_command();
        } else if (c == ' ' || c == '\t' || c == '\r') {
            end_word();
        } else if (c == '#' && !in_word) {
            while (i + 1 < text.size() && text[i + 1] != '\n') {
                ++i;
            }
        } else if (c == '\\' && i + 1 < text.size()) {
            if (text[i + 1] != '\n') {  // a backslash-newline joins lines
                word += text[i + 1];
                in_word = true;
            }
            ++i;
        } else if (c == '\'') {
            in_word = true;
            for (++i; i < text.size() && text[i] != '\''; ++i) {
                word += text[i] == '$' ? literal_dollar : text[i];
            }
        } else if (c == '"') {
            in_word = true;
            for (++i; i < text.size() && text[i] != '"'; ++i) {
                if (text[i] == '\\' && i + 1 < text.size() &&
                    std::string_view("$\"\\\n").find(text[i + 1]) != std::string_view::npos) {
                    ++i;
                    word += text[i] == '$' ? literal_dollar : text[i];
                } else {
                    word += text[i];
                }
            }
        } else {
            word += c;
            in_word = true;
        }
    }
    end_command();
    return commands;
}

bool name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
}

std::string expand(const std::string& word, const std::map<std::string, std::string>& variables) {
    std::string out;
    for (std::size_t i = 0; i < word.size(); ++i) {
        if (word[i] == literal_dollar) {
            out += '$';
            continue;
        }
        if (word[i] != '$' || i + 1 == word.size()) {
            out += word[i];
            continue;
        }
        std::string name;
        if (word[i + 1] == '{') {
            const auto close = word.find('}', i + 2);
            if (close == std::string::npos) {
                out += word.substr(i);
                break;
            }
            name = word.substr(i + 2, close - i - 2);
            i = close;
        } else {
            std::size_t j = i + 1;
            while (j < word.size() && name_char(word[j])) {
                ++j;
            }
            if (j == i + 1) {
                out += '$';
                continue;
            }
            name = word.substr(i + 1, j - i - 1);
            i = j - 1;
        }
        if (const auto found = variables.find(name); found != variables.end()) {
            out += found->second;
        }
    }
    return out;
}

// An assignment NAME=VALUE (the word after `set`, or a whole command).
std::optional<std::pair<std::string, std::string>> assignment(const std::string& word) {
    const auto equals = word.find('=');
    if (equals == 0 || equals == std::string::npos ||
        !std::all_of(word.begin(), word.begin() + static_cast<long>(equals), name_char)) {
        return std::nullopt;
    }
    return std::pair(word.substr(0, equals), word.substr(equals + 1));
}

struct MenuItem {
    BootEntry entry;
    std::string id;
    bool submenu = false;
    std::vector<MenuItem> children;  // a submenu's entries
};

// The path of a kernel or initrd without GRUB's device prefix: "(hd0,gpt2)/vmlinuz".
std::string without_device(const std::string& path) {
    if (path.starts_with("(")) {
        if (const auto close = path.find(')'); close != std::string::npos) {
            return path.substr(close + 1);
        }
    }
    return path;
}

bool all_digits(std::string_view text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c)) != 0;
    });
}

const MenuItem* pick(const std::vector<MenuItem>& items, std::string_view key) {
    if (all_digits(key)) {
        const std::size_t index = std::stoul(std::string(key));
        return index < items.size() ? &items[index] : nullptr;
    }
    for (const auto& item : items) {
        if (item.entry.title == key || (!item.id.empty() && item.id == key)) {
            return &item;
        }
    }
    return nullptr;
}

const MenuItem* first_entry(const MenuItem* item) {
    while (item != nullptr && item->submenu) {
        item = item->children.empty() ? nullptr : &item->children.front();
    }
    return item;
}

void join_into(std::string& options, std::string_view more) {
    if (more.empty()) {
        return;
    }
    if (!options.empty()) {
        options += ' ';
    }
    options += more;
}

// A word of a linux command as the kernel must see it: one that holds a space was
// quoted in grub.cfg, and is quoted again (name="value"), as Linux's parser expects.
std::string kernel_word(const std::string& word) {
    if (word.find_first_of(" \t") == std::string::npos) {
        return word;
    }
    const auto equals = word.find('=');
    return equals == std::string::npos
               ? "\"" + word + "\""
               : word.substr(0, equals + 1) + "\"" + word.substr(equals + 1) + "\"";
}

}  // namespace

std::optional<BootEntry> grub_default_entry(std::string_view grub_cfg) {
    std::map<std::string, std::string> variables;
    std::string default_key;
    std::vector<MenuItem> top;
    // The open blocks: menu items being filled, or other blocks ({ of a function)
    // whose contents berth skips.
    struct Open {
        MenuItem* item = nullptr;  // null: a block berth does not follow
    };
    std::vector<Open> open;
    std::vector<std::unique_ptr<MenuItem>> building;
    const auto skipping = [&] {
        return std::any_of(open.begin(), open.end(),
                           [](const Open& o) { return o.item == nullptr; });
    };
    const auto current_item = [&]() -> MenuItem* {
        return open.empty() ? nullptr : open.back().item;
    };

    const auto close_block = [&] {
        MenuItem* done = open.back().item;
        open.pop_back();
        if (done != nullptr && !skipping()) {
            MenuItem* parent = current_item();
            auto finished = std::move(*building.back());
            building.pop_back();
            (parent != nullptr ? parent->children : top).push_back(std::move(finished));
        }
    };
    for (const Command& raw : split_commands(grub_cfg)) {
        Command words;
        for (const auto& word : raw) {
            words.push_back(expand(word, variables));
        }
        const std::string& verb = words.front();
        if (verb == "}") {
            if (!open.empty()) {
                close_block();
            }
            continue;
        }
        const bool opens_block = words.back() == "{";
        if (opens_block && (verb == "menuentry" || verb == "submenu") && !skipping()) {
            auto item = std::make_unique<MenuItem>();
            item->submenu = verb == "submenu";
            item->entry.title = words.size() > 2 ? words[1] : std::string();
            // update-grub writes "$menuentry_id_option 'ID'", the variable being "--id"
            // only when the running GRUB has the feature: read it as --id.
            for (std::size_t i = 2; i + 1 < words.size(); ++i) {
                const bool id_option = words[i] == "--id" || raw[i] == "$menuentry_id_option" ||
                                       raw[i] == "${menuentry_id_option}";
                if (id_option && i + 2 < words.size()) {
                    item->id = words[i + 1];
                } else if (words[i].starts_with("--id=")) {
                    item->id = words[i].substr(5);
                }
            }
            building.push_back(std::move(item));
            open.push_back({building.back().get()});
            continue;
        }
        if (opens_block) {
            open.push_back({nullptr});  // function NAME {, or an unknown block
            continue;
        }
        if (skipping()) {
            continue;
        }
        MenuItem* item = current_item();
        if (item != nullptr && !item->submenu &&
            (verb == "linux" || verb == "linux16" || verb == "linuxefi")) {
            if (words.size() > 1) {
                item->entry.kernel = without_device(words[1]);
                item->entry.options.clear();
                for (std::size_t i = 2; i < words.size(); ++i) {
                    join_into(item->entry.options, kernel_word(words[i]));
                }
            }
        } else if (item != nullptr && !item->submenu &&
                   (verb == "initrd" || verb == "initrd16" || verb == "initrdefi")) {
            item->entry.initrds.clear();
            for (std::size_t i = 1; i < words.size(); ++i) {
                item->entry.initrds.push_back(without_device(words[i]));
            }
        } else if (verb == "set" && words.size() > 1) {
            if (auto set = assignment(words[1])) {
                if (set->first == "default" && item == nullptr) {
                    if (!set->second.empty()) {
                        default_key = set->second;
                    }
                } else {
                    variables[set->first] = set->second;
                }
            }
        } else if (words.size() == 1) {
            if (auto set = assignment(verb)) {
                variables[set->first] = set->second;
            }
        }
    }
    // A file cut short: its open blocks end with it.
    while (!open.empty()) {
        close_block();
    }
    if (top.empty()) {
        return std::nullopt;
    }
    // "2>1": the second entry of the third item; each part a number, a title or an id.
    const MenuItem* chosen = nullptr;
    const std::vector<MenuItem>* level = &top;
    std::string_view rest = default_key;
    while (!rest.empty()) {
        const auto arrow = rest.find('>');
        const MenuItem* found = pick(*level, rest.substr(0, arrow));
        if (found == nullptr) {
            chosen = nullptr;  // GRUB boots entry 0 when its default names nothing
            break;
        }
        chosen = found;
        if (arrow == std::string_view::npos) {
            break;
        }
        rest = rest.substr(arrow + 1);
        level = &found->children;
    }
    chosen = first_entry(chosen != nullptr ? chosen : &top.front());
    if (chosen == nullptr) {
        return std::nullopt;
    }
    return chosen->entry;
}

std::optional<BootEntry> bls_default_entry(
    const std::vector<std::pair<std::string, std::string>>& files, std::string_view loader_conf) {
    struct Parsed {
        std::string file;
        std::string sort_key;
        std::string version;
        BootEntry entry;
    };
    std::vector<Parsed> parsed;
    for (const auto& [file, text] : files) {
        Parsed p{file, {}, {}, {}};
        std::size_t start = 0;
        while (start < text.size()) {
            auto end = text.find('\n', start);
            if (end == std::string::npos) {
                end = text.size();
            }
            std::string line = text.substr(start, end - start);
            start = end + 1;
            const auto key_end = line.find_first_of(" \t");
            if (line.empty() || line[0] == '#' || key_end == std::string::npos) {
                continue;
            }
            const std::string key = line.substr(0, key_end);
            const auto value_start = line.find_first_not_of(" \t", key_end);
            std::string value = value_start == std::string::npos ? "" : line.substr(value_start);
            while (!value.empty() &&
                   (value.back() == ' ' || value.back() == '\t' || value.back() == '\r')) {
                value.pop_back();
            }
            if (key == "title") {
                p.entry.title = value;
            } else if (key == "version") {
                p.version = value;
            } else if (key == "sort-key") {
                p.sort_key = value;
            } else if (key == "linux") {
                p.entry.kernel = value;
            } else if (key == "initrd") {
                p.entry.initrds.push_back(value);
            } else if (key == "options") {
                join_into(p.entry.options, value);
            }
        }
        if (p.entry.title.empty()) {
            p.entry.title = file;
        }
        parsed.push_back(std::move(p));
    }
    if (parsed.empty()) {
        return std::nullopt;
    }
    std::sort(parsed.begin(), parsed.end(), [](const Parsed& a, const Parsed& b) {
        if (a.sort_key.empty() != b.sort_key.empty()) {
            return !a.sort_key.empty();
        }
        if (a.sort_key != b.sort_key) {
            return a.sort_key < b.sort_key;
        }
        if (const int order = strverscmp(a.version.c_str(), b.version.c_str()); order != 0) {
            return order > 0;
        }
        return strverscmp(a.file.c_str(), b.file.c_str()) > 0;
    });
    // loader.conf: "default GLOB" names an entry file, with or without ".conf".
    for (const Command& words : split_commands(loader_conf)) {
        if (words.size() < 2 || words[0] != "default") {
            continue;
        }
        for (const auto& p : parsed) {
            std::string stem = p.file;
            if (stem.ends_with(".conf")) {
                stem.resize(stem.size() - 5);
            }
            if (fnmatch(words[1].c_str(), p.file.c_str(), 0) == 0 ||
                fnmatch(words[1].c_str(), stem.c_str(), 0) == 0) {
                return p.entry;
            }
        }
    }
    return parsed.front().entry;
}

std::string without_console_options(std::string_view options) {
    std::string kept;
    std::size_t start = 0;
    while (start < options.size()) {
        const auto space = options.find_first_of(" \t", start);
        const auto word = options.substr(
            start, space == std::string_view::npos ? std::string_view::npos : space - start);
        start = space == std::string_view::npos ? options.size() : space + 1;
        if (word.empty() || word.starts_with("console=") || word.starts_with("earlyprintk=") ||
            word == "earlycon" || word.starts_with("earlycon=") ||
            word.starts_with("BOOT_IMAGE=")) {
            continue;
        }
        join_into(kept, word);
    }
    return kept;
}

}  // namespace berth::boot
