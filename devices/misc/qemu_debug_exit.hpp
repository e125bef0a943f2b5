#pragma once
// QEMU's isa-debug-exit as its users know it (`-device isa-debug-exit,iobase=0xf4`):
// a guest write of a value v ends the machine with status (v << 1) | 1. Kernels and
// test harnesses written for QEMU end their runs this way; berth speaks the same rule
// on the port it is attached to, so they run unchanged.
//
// The status is always odd, so a guest cannot fake a clean exit 0. QEMU calls
// exit((v << 1) | 1) with the whole value of the write (1, 2 or 4 bytes), and the
// process status keeps only the low 8 bits of that: in effect ((v & 0x7f) << 1) | 1,
// 1 to 255. berth computes that same byte.
//
// The device holds no state of its own: it hands the status to the machine's
// DebugExit, which the vCPU loop already asks after every port exit, so both ports
// end the machine the same way (the first write wins).

#include <cstdint>
#include <memory>

#include "devices/bus/port_io_bus.hpp"
#include "devices/misc/debug_exit.hpp"

namespace berth::devices {

class QemuDebugExit : public PortIoDevice {
public:
    static constexpr std::uint16_t register_count = 1;

    explicit QemuDebugExit(std::shared_ptr<DebugExit> exit) : exit_(std::move(exit)) {}

    // The exit status QEMU's rule gives a written value.
    static int status_for(std::uint32_t value);

    std::string_view name() const override { return "debug exit (QEMU isa-debug-exit)"; }
    // Reads return 0, as berth's own debug-exit port.
    void io_read(std::uint16_t offset, std::span<std::uint8_t> data) override;
    // The write's bytes, little endian, are the value.
    void io_write(std::uint16_t offset, std::span<const std::uint8_t> data) override;

private:
    std::shared_ptr<DebugExit> exit_;
};

}  // namespace berth::devices
