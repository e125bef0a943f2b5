#pragma once
// The files a user hands the guest through fw_cfg (devices/misc/fw_cfg): one value of
// `berth vm run --fw-cfg` is "name=opt/NAME,file=PATH" (the two in either order, as
// QEMU's -fw_cfg takes them). Both machines make their fw_cfg device here, before
// /dev/kvm is opened, so a bad name or file fails first and the same way everywhere.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "devices/misc/fw_cfg.hpp"

namespace berth::machine {

struct FwCfgFileSpec {
    std::string name;  // "opt/..."
    std::filesystem::path file;
};

// Parses one value; a malformed one or a bad name throws a bad-input Error.
FwCfgFileSpec parse_fw_cfg_file(std::string_view value);

// Checks every name (and that none is given twice) before reading any file, then reads
// the files through the one checked input path and makes the device. Bad input throws,
// naming the file: "fw_cfg opt/x: cannot read fw_cfg file x.bin: ...".
std::shared_ptr<devices::FwCfg> make_fw_cfg(const std::vector<FwCfgFileSpec>& files,
                                            std::uint64_t ram_size, std::uint32_t cpus);

}  // namespace berth::machine
