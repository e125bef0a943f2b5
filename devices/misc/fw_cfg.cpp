#include "devices/misc/fw_cfg.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"

namespace berth::devices {

namespace {

constexpr std::uint16_t arch_key_bit = 0x8000;
constexpr std::uint16_t key_mask = 0x3fff;  // without the arch and (ignored) write bits
constexpr std::uint32_t id_traditional_interface = 1;
constexpr std::size_t dir_entry_name_size = 56;

template <typename T>
std::vector<std::uint8_t> little_endian(T value) {
    std::vector<std::uint8_t> bytes(sizeof(T));
    for (std::size_t i = 0; i < sizeof(T); ++i) {
        bytes[i] = static_cast<std::uint8_t>(value >> (8 * i));
    }
    return bytes;
}

template <typename T>
void append_big_endian(std::vector<std::uint8_t>& out, T value) {
    for (std::size_t i = sizeof(T); i-- > 0;) {
        out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
    }
}

}  // namespace

void FwCfg::check_file_name(std::string_view name) {
    constexpr std::string_view prefix = "opt/";
    if (!name.starts_with(prefix)) {
        throw bad_input(
            fmt::format("file name {} does not start with \"opt/\": QEMU keeps the other names "
                        "for itself; call it opt/NAME (better opt/YOUR.DOMAIN/NAME)",
                        quote(name)));
    }
    if (name.size() == prefix.size()) {
        throw bad_input("file name \"opt/\" names no file; add one: opt/NAME");
    }
    if (name.size() > max_name_length) {
        throw bad_input(fmt::format(
            "file name {} is {} characters, more than the {} the fw_cfg directory holds; "
            "shorten it",
            quote(name), name.size(), max_name_length));
    }
}

FwCfg::FwCfg(std::uint64_t ram_size, std::uint16_t cpus, std::vector<File> files) {
    if (files.size() > max_files) {
        throw bad_input(fmt::format("{} files are more than the {} fw_cfg holds; give fewer",
                                    files.size(), max_files));
    }
    std::set<std::string_view> names;
    for (const File& file : files) {
        check_file_name(file.name);
        if (!names.insert(file.name).second) {
            throw bad_input(fmt::format("file name {} is given twice; give each file its own name",
                                        quote(file.name)));
        }
        if (file.data.size() > max_file_size) {
            throw bad_input(
                fmt::format("file {} is {} bytes, more than fw_cfg's {}; give a "
                            "smaller file",
                            quote(file.name), file.data.size(), max_file_size));
        }
    }

    items_[signature_key] = {'Q', 'E', 'M', 'U'};
    items_[id_key] = little_endian(id_traditional_interface);
    items_[ram_size_key] = little_endian(ram_size);
    items_[cpu_count_key] = little_endian(cpus);

    std::vector<std::uint8_t> directory;
    append_big_endian(directory, static_cast<std::uint32_t>(files.size()));
    std::uint16_t key = first_file_key;
    for (File& file : files) {
        append_big_endian(directory, static_cast<std::uint32_t>(file.data.size()));
        append_big_endian(directory, key);
        append_big_endian(directory, std::uint16_t{0});
        directory.insert(directory.end(), file.name.begin(), file.name.end());
        directory.resize(directory.size() + dir_entry_name_size - file.name.size(), 0);
        items_[key] = std::move(file.data);
        ++key;
    }
    items_[file_dir_key] = std::move(directory);
    select(signature_key);  // QEMU's selector starts at 0 too
}

void FwCfg::select(std::uint16_t key) {
    offset_ = 0;
    selected_ = nullptr;
    if ((key & arch_key_bit) != 0) {
        return;
    }
    const auto item = items_.find(static_cast<std::uint16_t>(key & key_mask));
    if (item != items_.end()) {
        selected_ = &item->second;
    }
}

void FwCfg::io_read(std::uint16_t offset, std::span<std::uint8_t> data) {
    const std::lock_guard lock(mutex_);
    for (std::uint8_t& byte : data) {
        byte = 0;
        if (offset != data_register || selected_ == nullptr) {
            continue;
        }
        if (offset_ < selected_->size()) {
            byte = (*selected_)[offset_];
            ++offset_;
        }
    }
}

void FwCfg::io_write(std::uint16_t offset, std::span<const std::uint8_t> data) {
    if (offset != selector_register || data.empty()) {
        return;  // the data register is read-only, as in QEMU since 2.4
    }
    std::uint16_t key = data[0];
    if (data.size() > 1) {
        key = static_cast<std::uint16_t>(key | (data[1] << 8));
    }
    const std::lock_guard lock(mutex_);
    select(key);
}

}  // namespace berth::devices
