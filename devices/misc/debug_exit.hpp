#pragma once
// A one-port "debug exit" device: the guest writes a value v to it and the machine
// stops with exit status v. It ends a guest deterministically where `hlt` cannot:
// with an in-kernel irqchip KVM handles hlt itself (the vCPU sleeps in the kernel
// until an interrupt) and never returns to berth. Used by the firmware lessons at
// port 0x501 and meant to be shared by every machine (Linux guests included).
//
// The device only records the request; the vCPU loop asks `requested_status()` after
// each port I/O exit and stops. The value is atomic because with several vCPUs any of
// them may write it while the others still run.

#include <atomic>
#include <cstdint>
#include <optional>

#include "devices/bus/port_io_bus.hpp"

namespace berth::devices {

class DebugExit : public PortIoDevice {
public:
    static constexpr std::uint16_t register_count = 1;

    std::string_view name() const override { return "debug exit"; }
    // Reads return 0: nothing to report, and a guest probing for the port does not hang.
    void io_read(std::uint16_t offset, std::span<std::uint8_t> data) override;
    // The low byte of any write (1, 2 or 4 bytes) is the status; the first write wins.
    void io_write(std::uint16_t offset, std::span<const std::uint8_t> data) override;

    // Records `status` (0-255) as the guest's request unless one was made already;
    // for other ports that end the machine by their own rule (QemuDebugExit).
    void request(int status);

    // The status the guest asked for, once it has written one.
    std::optional<int> requested_status() const;

private:
    static constexpr int none = -1;
    std::atomic<int> status_{none};
};

}  // namespace berth::devices
