// fw_cfg (devices/misc/fw_cfg) as a guest sees it through its two ports, and the
// --fw-cfg values that make its files (vmm/machine/fw_cfg_files).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <array>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "devices/misc/fw_cfg.hpp"
#include "tests/unit/byte_compare.hpp"
#include "vmm/common/error.hpp"
#include "vmm/machine/fw_cfg_files.hpp"

using berth::devices::FwCfg;
using berth::test::as_number;
using berth::test::same_bytes;

namespace {

void select(FwCfg& device, std::uint16_t key) {
    const std::array<std::uint8_t, 2> bytes{static_cast<std::uint8_t>(key),
                                            static_cast<std::uint8_t>(key >> 8)};
    device.io_write(FwCfg::selector_register, bytes);
}

// `count` single-byte reads of the data port, as a guest's `in al, dx` loop makes them.
std::vector<std::uint8_t> read_bytes(FwCfg& device, std::size_t count) {
    std::vector<std::uint8_t> bytes;
    for (std::size_t i = 0; i < count; ++i) {
        std::array<std::uint8_t, 1> byte{0xaa};
        device.io_read(FwCfg::data_register, byte);
        bytes.push_back(byte[0]);
    }
    return bytes;
}

std::vector<std::uint8_t> bytes_of(std::string_view text) {
    return {text.begin(), text.end()};
}

FwCfg two_files() {
    return FwCfg(64ULL << 20, 2,
                 {{"opt/berth/hello", bytes_of("hi there")}, {"opt/x", bytes_of("XYZ")}});
}

// What a bad-input Error says, or "" when `run` does not throw one.
template <typename Run>
std::string bad_input_message(Run&& run) {
    try {
        run();
    } catch (const berth::Error& e) {
        CHECK(e.status() == berth::ExitStatus::bad_input);
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("fw_cfg: signature, ID, RAM size and CPUs", "[devices][fw_cfg]") {
    FwCfg device = two_files();
    select(device, FwCfg::signature_key);
    CHECK(same_bytes(read_bytes(device, 4), bytes_of("QEMU")));
    select(device, FwCfg::id_key);
    // Bit 0, the traditional interface; no bit 1: berth has no DMA interface.
    CHECK(same_bytes(read_bytes(device, 4), std::array<std::uint8_t, 4>{1, 0, 0, 0}));
    select(device, FwCfg::ram_size_key);
    CHECK(
        same_bytes(read_bytes(device, 8), std::array<std::uint8_t, 8>{0, 0, 0, 0x04, 0, 0, 0, 0}));
    select(device, FwCfg::cpu_count_key);
    CHECK(same_bytes(read_bytes(device, 2), std::array<std::uint8_t, 2>{2, 0}));
}

TEST_CASE("fw_cfg: selecting rewinds, the end reads as 0, unknown keys read as 0",
          "[devices][fw_cfg]") {
    FwCfg device = two_files();
    // The selector starts at the signature, as QEMU's.
    CHECK(same_bytes(read_bytes(device, 2), bytes_of("QE")));
    select(device, FwCfg::signature_key);
    CHECK(same_bytes(read_bytes(device, 6), std::array<std::uint8_t, 6>{'Q', 'E', 'M', 'U', 0, 0}));
    select(device, FwCfg::signature_key);
    CHECK(same_bytes(read_bytes(device, 1), bytes_of("Q")));
    // Bit 14 (QEMU's old write flag) is ignored for reading.
    select(device, 0x4000 | FwCfg::signature_key);
    CHECK(same_bytes(read_bytes(device, 4), bytes_of("QEMU")));
    // No architecture items, no item 0x0002.
    select(device, 0x8000);
    CHECK(same_bytes(read_bytes(device, 2), std::array<std::uint8_t, 2>{0, 0}));
    select(device, 0x0002);
    CHECK(same_bytes(read_bytes(device, 2), std::array<std::uint8_t, 2>{0, 0}));
    // A one-byte selector write selects too.
    device.io_write(FwCfg::selector_register, std::array<std::uint8_t, 1>{0x20});
    CHECK(same_bytes(read_bytes(device, 2), bytes_of("hi")));
}

TEST_CASE("fw_cfg: a wide data read gets the next bytes in order; writes are ignored",
          "[devices][fw_cfg]") {
    FwCfg device = two_files();
    select(device, FwCfg::signature_key);
    std::array<std::uint8_t, 4> dword{};
    device.io_read(FwCfg::data_register, dword);
    CHECK(same_bytes(dword, bytes_of("QEMU")));
    select(device, FwCfg::signature_key);
    device.io_write(FwCfg::data_register, std::array<std::uint8_t, 1>{'X'});
    CHECK(same_bytes(read_bytes(device, 1), bytes_of("Q")));
    // The selector port is write-only and reads as 0, moving nothing.
    std::array<std::uint8_t, 2> word{0xaa, 0xaa};
    device.io_read(FwCfg::selector_register, word);
    CHECK(same_bytes(word, std::array<std::uint8_t, 2>{0, 0}));
    CHECK(same_bytes(read_bytes(device, 1), bytes_of("E")));
}

TEST_CASE("fw_cfg: the file directory, byte for byte, and the files", "[devices][fw_cfg]") {
    FwCfg device = two_files();
    std::vector<std::uint8_t> expected{0, 0, 0, 2};
    const auto entry = [&](std::uint32_t size, std::uint16_t key, std::string_view name) {
        const std::array<std::uint8_t, 8> head{0,
                                               0,
                                               0,
                                               static_cast<std::uint8_t>(size),
                                               static_cast<std::uint8_t>(key >> 8),
                                               static_cast<std::uint8_t>(key),
                                               0,
                                               0};
        expected.insert(expected.end(), head.begin(), head.end());
        expected.insert(expected.end(), name.begin(), name.end());
        expected.resize(expected.size() + 56 - name.size(), 0);
    };
    entry(8, 0x20, "opt/berth/hello");
    entry(3, 0x21, "opt/x");
    REQUIRE(expected.size() == 4 + 2 * 64);
    select(device, FwCfg::file_dir_key);
    CHECK(same_bytes(read_bytes(device, expected.size() + 1), [&] {
        auto with_end = expected;
        with_end.push_back(0);  // past the end
        return with_end;
    }()));
    select(device, 0x21);
    CHECK(same_bytes(read_bytes(device, 4), std::array<std::uint8_t, 4>{'X', 'Y', 'Z', 0}));
    select(device, 0x22);
    CHECK(as_number(read_bytes(device, 1)[0]) == 0);
}

TEST_CASE("fw_cfg: no files, an empty directory", "[devices][fw_cfg]") {
    FwCfg device(16ULL << 20, 1, {});
    select(device, FwCfg::file_dir_key);
    CHECK(same_bytes(read_bytes(device, 5), std::array<std::uint8_t, 5>{0, 0, 0, 0, 0}));
}

TEST_CASE("fw_cfg: file names follow QEMU's rules", "[devices][fw_cfg]") {
    CHECK_NOTHROW(FwCfg::check_file_name("opt/a"));
    CHECK_NOTHROW(FwCfg::check_file_name("opt/" + std::string(51, 'n')));  // 55
    CHECK_THAT(bad_input_message([] { FwCfg::check_file_name("etc/a"); }),
               Catch::Contains("does not start with \"opt/\""));
    CHECK_THAT(bad_input_message([] { FwCfg::check_file_name("opt/"); }),
               Catch::Contains("names no file"));
    CHECK_THAT(bad_input_message([] { FwCfg::check_file_name("opt/" + std::string(52, 'n')); }),
               Catch::Contains("56 characters, more than the 55"));
    CHECK_THAT(bad_input_message([] {
                   FwCfg(16ULL << 20, 1, {{"opt/a", {}}, {"opt/a", {}}});
               }),
               Catch::Contains("given twice"));
    CHECK_THAT(
        bad_input_message([] {
            FwCfg(16ULL << 20, 1, {{"opt/a", std::vector<std::uint8_t>(FwCfg::max_file_size + 1)}});
        }),
        Catch::Contains("more than fw_cfg's"));
}

TEST_CASE("--fw-cfg values: name=opt/NAME,file=PATH in either order", "[fw_cfg]") {
    using berth::machine::parse_fw_cfg_file;
    const auto spec = parse_fw_cfg_file("name=opt/a,file=/tmp/x");
    CHECK(spec.name == "opt/a");
    CHECK(spec.file == "/tmp/x");
    const auto swapped = parse_fw_cfg_file("file=data.bin,name=opt/b/c");
    CHECK(swapped.name == "opt/b/c");
    CHECK(swapped.file == "data.bin");
    for (const char* bad :
         {"", "opt/a", "name=opt/a", "file=x", "name=opt/a,file=", "name=opt/a,file=x,name=opt/b",
          "name=opt/a,file=x,string=y", "name=a,file=x", "name=opt/a,,file=x"}) {
        INFO(bad);
        CHECK_FALSE(bad_input_message([&] { parse_fw_cfg_file(bad); }).empty());
    }
}

TEST_CASE("--fw-cfg files: names checked first, files read with context", "[fw_cfg]") {
    using berth::machine::make_fw_cfg;
    char path[] = "/tmp/berth-fw-cfg-XXXXXX";
    const int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, "abc", 3) == 3);
    ::close(fd);
    auto device = make_fw_cfg({{"opt/f", path}}, 16ULL << 20, 1);
    select(*device, FwCfg::first_file_key);
    CHECK(same_bytes(read_bytes(*device, 3), bytes_of("abc")));
    // A duplicate is found before the missing file is looked at.
    CHECK_THAT(bad_input_message([&] {
                   make_fw_cfg({{"opt/f", path}, {"opt/f", "/nonexistent/berth"}}, 16ULL << 20, 1);
               }),
               Catch::Contains("given twice"));
    CHECK_THAT(
        bad_input_message([&] {
            make_fw_cfg({{"opt/g", "/nonexistent/berth-fw-cfg"}}, 16ULL << 20, 1);
        }),
        Catch::Contains("fw_cfg 'opt/g': cannot read fw_cfg file /nonexistent/berth-fw-cfg"));
    ::unlink(path);
}
