#pragma once
// QEMU's firmware configuration device (fw_cfg), its traditional port interface: the
// way a guest written for QEMU asks the machine what it is (RAM size, CPUs) and reads
// files the user handed it (`--fw-cfg name=opt/...,file=PATH`). The interface is
// QEMU's docs/specs/fw_cfg.rst; berth offers the part a small kernel needs.
//
// Ports (from the device's base, 0x510 on x86, vmm/memory/platform_layout.hpp):
//   +0 SELECTOR  16-bit write, little endian: choose an item and rewind to its start
//   +1 DATA      read: the item's next byte (a wider read gets the next bytes in
//                order); past the end, 0. Writes are ignored, as in QEMU since 2.4.
// Reading the selector gives 0 (it is write-only).
//
// Items (keys; bit 14 of a selector is QEMU's old write flag and is ignored, bit 15
// selects architecture items, of which berth has none, so they read as 0):
//   0x0000  signature, "QEMU"
//   0x0001  features, 32-bit little endian: 1, the traditional interface (no DMA)
//   0x0003  RAM size in bytes, 64-bit little endian
//   0x0005  number of CPUs, 16-bit little endian
//   0x0019  file directory: a 32-bit big-endian count, then per file its 32-bit
//           big-endian size, 16-bit big-endian key, 16 zero bits and its name in 56
//           bytes, NUL-padded
//   0x0020+ the files, in the order given
// Any other key reads as 0, like an item whose end has been passed.
//
// The device is called from any vCPU thread; a mutex keeps the selector and the
// offset consistent between them.

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "devices/bus/port_io_bus.hpp"

namespace berth::devices {

class FwCfg : public PortIoDevice {
public:
    static constexpr std::uint16_t register_count = 2;
    static constexpr std::uint16_t selector_register = 0;
    static constexpr std::uint16_t data_register = 1;

    static constexpr std::uint16_t signature_key = 0x0000;
    static constexpr std::uint16_t id_key = 0x0001;
    static constexpr std::uint16_t ram_size_key = 0x0003;
    static constexpr std::uint16_t cpu_count_key = 0x0005;
    static constexpr std::uint16_t file_dir_key = 0x0019;
    static constexpr std::uint16_t first_file_key = 0x0020;

    // The directory's name field is 56 bytes with the terminating NUL.
    static constexpr std::size_t max_name_length = 55;
    // As many files as QEMU offers by default (its fw_cfg "file slots").
    static constexpr std::size_t max_files = 32;
    // One file is read into berth's memory whole, and a guest reads it a byte per exit.
    static constexpr std::uint64_t max_file_size = 16ULL << 20;

    struct File {
        std::string name;
        std::vector<std::uint8_t> data;
    };

    // Throws a bad-input Error for a file with a bad name (check_file_name), one name
    // given twice, more than max_files files or one larger than max_file_size.
    FwCfg(std::uint64_t ram_size, std::uint16_t cpus, std::vector<File> files);

    // A user's file name must start with "opt/" (QEMU's rule: the rest of the name
    // space is QEMU's own), name something after it and fit the directory entry.
    // Throws a bad-input Error saying which rule the name breaks.
    static void check_file_name(std::string_view name);

    std::string_view name() const override { return "fw_cfg"; }
    void io_read(std::uint16_t offset, std::span<std::uint8_t> data) override;
    void io_write(std::uint16_t offset, std::span<const std::uint8_t> data) override;

private:
    void select(std::uint16_t key);

    std::map<std::uint16_t, std::vector<std::uint8_t>> items_;
    std::mutex mutex_;
    const std::vector<std::uint8_t>* selected_ = nullptr;  // nullptr: a key with no item
    std::size_t offset_ = 0;
};

}  // namespace berth::devices
