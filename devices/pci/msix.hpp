#pragma once
// MSI-X: a table of interrupt messages (address, data, mask) and a pending-bit array,
// both in a memory BAR, switched on by the MSI-X capability in configuration space.
// The device raises "vector N"; if MSI-X is on and neither the function nor the
// vector is masked, the message goes out through an MsiSink (with KVM: a GSI route
// and an irqfd); while masked it is remembered in the PBA and sent on unmask.

#include <array>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "devices/pci/config_space.hpp"

namespace berth::devices::pci {

struct MsiMessage {
    std::uint64_t address = 0;
    std::uint32_t data = 0;
    bool operator==(const MsiMessage&) const = default;
};

class MsiSink {
public:
    virtual ~MsiSink() = default;
    // The guest (re)programmed vector `vector`; called before any trigger with it.
    virtual void route(std::uint16_t vector, const MsiMessage& message) = 0;
    virtual void trigger(std::uint16_t vector) = 0;
    // An eventfd whose every write raises `vector` without this process (KVM's irqfd),
    // for a data plane in the kernel (vhost) to signal itself; -1 when there is none.
    // Such writes bypass the table's masks.
    virtual int trigger_fd(std::uint16_t /*vector*/) const { return -1; }
};

inline constexpr std::uint16_t msix_entry_size = 16;
inline constexpr std::uint16_t msix_control_enable = 0x8000;
inline constexpr std::uint16_t msix_control_function_mask = 0x4000;

class MsixTable {
public:
    MsixTable(std::uint16_t vectors, MsiSink& sink);

    std::uint16_t vectors() const { return static_cast<std::uint16_t>(entries_.size()); }
    std::uint64_t table_bytes() const { return entries_.size() * msix_entry_size; }
    std::uint64_t pba_bytes() const { return (entries_.size() + 63) / 64 * 8; }

    // Adds the capability to `config`, with the table at `table_offset` and the PBA at
    // `pba_offset` of BAR `bar`. Returns the capability's offset.
    std::uint8_t add_capability(ConfigSpace& config, unsigned bar, std::uint32_t table_offset,
                                std::uint32_t pba_offset);
    // Call after every configuration write: picks up enable/function-mask changes.
    void update_control(const ConfigSpace& config);

    void table_read(std::uint64_t offset, std::span<std::uint8_t> data) const;
    void table_write(std::uint64_t offset, std::span<const std::uint8_t> data);
    void pba_read(std::uint64_t offset, std::span<std::uint8_t> data) const;

    // Raises `vector` (ignored when out of range or MSI-X is off). Any thread.
    void signal(std::uint16_t vector);

    bool enabled() const;

    // The sink's trigger_fd for `vector` (-1 when out of range or there is none).
    int trigger_fd(std::uint16_t vector) const {
        return vector < entries_.size() ? sink_.trigger_fd(vector) : -1;
    }

    // The table and pending bits, for snapshots. restore() routes every vector anew
    // through the sink; call update_control() after it with the restored configuration.
    struct VectorState {
        std::array<std::uint8_t, msix_entry_size> entry{};
        bool pending = false;
    };
    std::vector<VectorState> state() const;
    // Throws when `vectors` has another count than the table.
    void restore(const std::vector<VectorState>& vectors);

private:
    struct Entry {
        std::array<std::uint8_t, msix_entry_size> bytes{};
        bool pending = false;
        MsiMessage routed{};
        bool has_route = false;

        MsiMessage message() const;
        bool masked() const { return (bytes[12] & 1) != 0; }
    };
    // With mutex_ held: routes changed messages and delivers pending unmasked vectors.
    void sync(std::uint16_t vector);

    MsiSink& sink_;
    mutable std::mutex mutex_;
    std::vector<Entry> entries_;
    std::uint8_t capability_ = 0;
    bool enabled_ = false;
    bool function_masked_ = false;
};

}  // namespace berth::devices::pci
