#include <catch2/catch.hpp>

#include <vector>

#include "vmm/boot/firmware_header.hpp"
#include "vmm/common/error.hpp"

using berth::boot::InKernelIrqchip;
using berth::boot::read_firmware_features;

namespace {

std::vector<std::uint8_t> image_with_header(std::uint16_t flags) {
    std::vector<std::uint8_t> image = {0xeb, 0x0a, 'B', 'E', 'R', 'T', 'H', 'F', 'W', '1'};
    image.push_back(static_cast<std::uint8_t>(flags));
    image.push_back(static_cast<std::uint8_t>(flags >> 8));
    image.push_back(0xf4);  // hlt
    return image;
}

}  // namespace

TEST_CASE("firmware header: absent means the basic machine", "[firmware]") {
    const std::vector<std::uint8_t> hello = {0xfa, 0x31, 0xc0, 0xf4};
    CHECK(read_firmware_features(hello, "hello.bin").irqchip == InKernelIrqchip::no);
    // A jmp short that is not followed by the magic is just code.
    auto almost = image_with_header(1);
    almost[9] = '2';
    CHECK(read_firmware_features(almost, "x.bin").irqchip == InKernelIrqchip::no);
    const std::vector<std::uint8_t> tiny = {0xeb};
    CHECK(read_firmware_features(tiny, "x.bin").irqchip == InKernelIrqchip::no);
}

TEST_CASE("firmware header: the irqchip flag", "[firmware]") {
    CHECK(read_firmware_features(image_with_header(1), "x.bin").irqchip == InKernelIrqchip::yes);
    CHECK(read_firmware_features(image_with_header(0), "x.bin").irqchip == InKernelIrqchip::no);
}

TEST_CASE("firmware header: unknown flags are bad input naming the file", "[firmware]") {
    try {
        read_firmware_features(image_with_header(0x8001), "future.bin");
        FAIL("no error");
    } catch (const berth::Error& e) {
        CHECK(e.status() == berth::ExitStatus::bad_input);
        CHECK_THAT(e.what(), Catch::Contains("future.bin"));
        CHECK_THAT(e.what(), Catch::Contains("0x8001"));
    }
}
