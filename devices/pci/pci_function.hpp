#pragma once
// One PCI function as the bus sees it: a configuration space, and accesses to the
// memory BARs it implements.

#include <cstdint>
#include <span>
#include <string_view>

#include "devices/pci/config_space.hpp"

namespace berth::devices::pci {

class PciFunction {
public:
    virtual ~PciFunction() = default;
    virtual std::string_view name() const = 0;

    // Configuration accesses from the guest; the default goes straight to config().
    virtual void config_read(std::uint32_t offset, std::span<std::uint8_t> data) {
        config().read(offset, data);
    }
    virtual void config_write(std::uint32_t offset, std::span<const std::uint8_t> data) {
        config().write(offset, data);
    }
    // An access at `offset` inside memory BAR `bar` (the bus checks the range).
    virtual void bar_read(unsigned bar, std::uint64_t offset, std::span<std::uint8_t> data) = 0;
    virtual void bar_write(unsigned bar, std::uint64_t offset,
                           std::span<const std::uint8_t> data) = 0;

    virtual ConfigSpace& config() = 0;
};

// The host bridge at 00:00.0: Linux's legacy PCI probe looks for a host bridge (or a
// VGA card) on bus 0 before it trusts configuration mechanism #1.
class HostBridge : public PciFunction {
public:
    HostBridge();
    std::string_view name() const override { return "PCI host bridge"; }
    void bar_read(unsigned, std::uint64_t, std::span<std::uint8_t> data) override;
    void bar_write(unsigned, std::uint64_t, std::span<const std::uint8_t>) override {}
    ConfigSpace& config() override { return config_; }

private:
    ConfigSpace config_;
};

}  // namespace berth::devices::pci
