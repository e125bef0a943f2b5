#pragma once
// A paravirtual console (lesson 6): instead of emulating hardware register by register
// (the 8250 UART costs two VM exits per character), guest and berth agree on a ring of
// buffer descriptors in guest RAM. The guest fills buffers, publishes them in the ring
// and writes one "notify" port: a single VM exit hands berth any number of bytes. This
// is the idea behind virtio queues, cut to its bones.
//
// Ports (from the device's base, 0x520 in the firmware machine):
//   +0 RING    32-bit write: guest-physical address of the ring (below 4 GiB)
//   +4 NOTIFY  any write: consume every buffer the guest has made available
//   +8 STATUS  32-bit read: 0 ok, else the last error (see PvConsole::Status)
//
// The ring, little endian, 8-byte aligned:
//   u16 size     number of descriptors, 1..64 (set by the guest)
//   u16 avail    buffers the guest has published, counting up forever (wraps at 2^16)
//   u16 used     buffers berth has consumed, counting up forever (written by berth)
//   u16 zero
//   then `size` descriptors { u64 address; u32 length; u32 result }: buffer number k
//   lives in descriptor k % size; berth stores the bytes it wrote, or 0xffffffff when
//   it refused the buffer, in `result`.
//
// Berth never trusts the ring: every read goes through GuestMemory (bounds-checked),
// a bad buffer fails only that buffer and a bad ring fails only that notify. The guest
// can observe both through STATUS; berth itself keeps running.

#include <cstdint>
#include <functional>
#include <span>

#include "devices/bus/port_io_bus.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace berth::devices {

class PvConsole : public PortIoDevice {
public:
    static constexpr std::uint16_t register_count = 12;
    static constexpr std::uint16_t max_ring_size = 64;
    static constexpr std::uint32_t max_buffer_length = 64 * 1024;
    static constexpr std::uint32_t refused = 0xffffffff;

    enum class Status : std::uint32_t {
        ok = 0,
        no_ring = 1,     // NOTIFY before RING was written
        bad_ring = 2,    // ring header outside RAM, size 0 or > 64, or avail too far ahead
        bad_buffer = 3,  // a descriptor pointed outside RAM or was longer than 64 KiB
    };

    using Output = std::function<void(std::span<const std::uint8_t>)>;

    PvConsole(memory::GuestMemory& memory, Output output)
        : memory_(memory), output_(std::move(output)) {}

    std::string_view name() const override { return "pv console"; }
    void io_read(std::uint16_t offset, std::span<std::uint8_t> data) override;
    void io_write(std::uint16_t offset, std::span<const std::uint8_t> data) override;

    Status status() const { return status_; }

private:
    void notify();
    // Consumes one descriptor; returns what goes into its `result`.
    std::uint32_t consume(std::uint64_t descriptor_address);

    memory::GuestMemory& memory_;
    Output output_;
    std::uint32_t ring_address_ = 0;
    bool ring_set_ = false;
    Status status_ = Status::ok;
};

}  // namespace berth::devices
