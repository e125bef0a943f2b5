#pragma once
// A one-port "phase marker" next to the debug-exit port: a guest writes any byte to it
// to say "I got here" (berth's initramfs does so as soon as /init starts), and the
// machine passes that on, e.g. as the "userspace init" mark of `berth bench startup`.
// Unlike the debug-exit port it does not stop anything; reads return 0.

#include <cstdint>
#include <functional>

#include "devices/bus/port_io_bus.hpp"

namespace berth::devices {

class PhasePort : public PortIoDevice {
public:
    static constexpr std::uint16_t register_count = 1;

    explicit PhasePort(std::function<void()> on_write) : on_write_(std::move(on_write)) {}

    std::string_view name() const override { return "phase marker"; }
    void io_read(std::uint16_t offset, std::span<std::uint8_t> data) override;
    void io_write(std::uint16_t offset, std::span<const std::uint8_t> data) override;

private:
    std::function<void()> on_write_;
};

}  // namespace berth::devices
