// Fuzz harness: the parsers of values users type (sizes, CIDRs, --disk, --fw-cfg, the
// container's --user, --env, --cpus, --pids, --memory, --net): any text is either
// accepted or refused with berth::Error; nothing else may escape, crash or hang.
//
// Input: byte 0 picks the parser, the rest is the text.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "devices/virtio/blk.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/parse_number.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/size.hpp"
#include "vmm/container/run_options.hpp"
#include "vmm/machine/fw_cfg_files.hpp"
#include "vmm/net/ipv4.hpp"

namespace container = berth::container;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
    try {
        switch (data[0] % 12) {
            case 0:
                (void)berth::format_size(berth::parse_size(text, "--memory"));
                break;
            case 1:
                (void)berth::net::ipv4_text(berth::net::parse_cidr(text, "--ip").address);
                break;
            case 2:
                (void)berth::devices::virtio::DiskSpec::parse(text);
                break;
            case 3:
                (void)berth::machine::parse_fw_cfg_file(text);
                break;
            case 4:
                (void)container::parse_user(text);
                break;
            case 5:
                (void)container::parse_env(text);
                break;
            case 6:
                (void)container::parse_cpus(text);
                break;
            case 7:
                (void)container::parse_pids(text);
                break;
            case 8:
                (void)container::parse_memory(text);
                break;
            case 9:
                (void)container::parse_net_mode(text);
                break;
            case 10:
                (void)container::parse_bridge_ip(text);
                break;
            case 11: {
                std::uint64_t value = 0;
                (void)berth::parse_whole_number(text, value, 16);
                (void)berth::one_line(berth::quote(text));
                break;
            }
        }
    } catch (const berth::Error&) {
    }
    return 0;
}
