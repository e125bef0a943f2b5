#include "devices/misc/mmio_echo.hpp"

namespace berth::devices {

namespace {

constexpr std::uint8_t id_bytes[4] = {'B', 'R', 'T', 'H'};

std::uint8_t to_upper_ascii(std::uint8_t byte) {
    return byte >= 'a' && byte <= 'z' ? static_cast<std::uint8_t>(byte - 'a' + 'A') : byte;
}

}  // namespace

std::uint8_t MmioEcho::read_byte(std::uint64_t offset) const {
    const std::uint64_t reg = offset & ~std::uint64_t{3};
    const std::size_t byte = offset & 3;
    switch (reg) {
        case id_register:
            return id_bytes[byte];
        case echo_register:
            return to_upper_ascii(echo_[byte]);
        case writes_register:
            return static_cast<std::uint8_t>(writes_ >> (8 * byte));
        default:
            return 0;
    }
}

void MmioEcho::mmio_read(std::uint64_t offset, std::span<std::uint8_t> data) {
    for (std::size_t i = 0; i < data.size(); ++i) {
        data[i] = read_byte(offset + i);
    }
}

void MmioEcho::mmio_write(std::uint64_t offset, std::span<const std::uint8_t> data) {
    ++writes_;
    for (std::size_t i = 0; i < data.size(); ++i) {
        const std::uint64_t at = offset + i;
        if ((at & ~std::uint64_t{3}) == echo_register) {
            echo_[at & 3] = data[i];
        }
    }
}

}  // namespace berth::devices
