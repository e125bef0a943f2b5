#include "vmm/boot/firmware_header.hpp"

#include <algorithm>
#include <string_view>

#include <fmt/format.h>

#include "vmm/common/error.hpp"

namespace berth::boot {

namespace {

constexpr std::uint8_t jmp_short = 0xeb;
constexpr std::string_view magic = "BERTHFW1";
constexpr std::size_t magic_offset = 2;
constexpr std::size_t flags_offset = magic_offset + magic.size();
constexpr std::size_t header_size = flags_offset + 2;

}  // namespace

FirmwareFeatures read_firmware_features(std::span<const std::uint8_t> image,
                                        const std::filesystem::path& path) {
    FirmwareFeatures features;
    if (image.size() < header_size || image[0] != jmp_short ||
        !std::equal(magic.begin(), magic.end(), image.begin() + magic_offset)) {
        return features;
    }
    const auto flags =
        static_cast<std::uint16_t>(image[flags_offset] | (image[flags_offset + 1] << 8));
    if ((flags & ~firmware_flag_irqchip) != 0) {
        throw bad_input(fmt::format(
            "firmware {} asks for machine features this berth does not know (header flags "
            "{:#x}); rebuild it from guest-firmware/ of this berth",
            path.string(), flags));
    }
    if ((flags & firmware_flag_irqchip) != 0) {
        features.irqchip = InKernelIrqchip::yes;
    }
    return features;
}

}  // namespace berth::boot
