#pragma once
// Guest RAM and the only way into it. Every access names a guest-physical address
// and a length; the whole range must lie inside one RAM region or the access fails
// with GuestMemoryError. No other part of berth turns a guest address into a host
// pointer, so a guest (or a bug) can never make berth touch host memory outside RAM.

#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>
#include <vector>

#include "vmm/common/error.hpp"
#include "vmm/memory/mapping.hpp"

namespace berth::memory {

// An access outside guest RAM. Devices catch it to fail one request (or to put
// themselves into a needs-reset state) instead of failing the whole VM.
class GuestMemoryError : public Error {
public:
    using Error::Error;
};

struct RamRegion {
    std::uint64_t guest_address;
    Mapping mapping;

    std::uint64_t size() const { return mapping.size(); }
    std::uint64_t end() const { return guest_address + mapping.size(); }
};

// The access-only view that loaders, table builders and devices are handed: they can
// read and write guest RAM but never add, remove or map it (that is GuestRam's, and
// only the machine holds one).
class GuestMemory {
public:
    GuestMemory(const GuestMemory&) = delete;
    GuestMemory& operator=(const GuestMemory&) = delete;

    std::uint64_t total_size() const;

    // True when [address, +length) lies inside one RAM region.
    bool contains(std::uint64_t address, std::uint64_t length) const;

    // Host view of [address, +length), checked. A zero length at the very end of a
    // region is allowed (an empty span).
    std::span<std::uint8_t> span(std::uint64_t address, std::uint64_t length);
    std::span<const std::uint8_t> span(std::uint64_t address, std::uint64_t length) const;

    void read(std::uint64_t address, std::span<std::uint8_t> out) const;
    void write(std::uint64_t address, std::span<const std::uint8_t> in);
    void fill(std::uint64_t address, std::uint64_t length, std::uint8_t value);

    // The RAM regions, by guest address: for a data plane outside berth (vhost-net)
    // that is handed the same map KVM has.
    const std::vector<RamRegion>& regions() const { return regions_; }

    // Plain-old-data objects (guest structures such as descriptors or boot_params).
    template <typename T>
    T read_object(std::uint64_t address) const {
        static_assert(std::is_trivially_copyable_v<T>);
        T object;
        std::memcpy(&object, span(address, sizeof(T)).data(), sizeof(T));
        return object;
    }
    template <typename T>
    void write_object(std::uint64_t address, const T& object) {
        static_assert(std::is_trivially_copyable_v<T>);
        std::memcpy(span(address, sizeof(T)).data(), &object, sizeof(T));
    }

protected:
    GuestMemory() = default;
    GuestMemory(GuestMemory&&) = default;
    GuestMemory& operator=(GuestMemory&&) = default;
    ~GuestMemory() = default;

    std::vector<RamRegion> regions_;

private:
    const RamRegion* find(std::uint64_t address, std::uint64_t length) const;
};

// Guest RAM itself: owns the mappings and tells the machine what to hand KVM.
class GuestRam final : public GuestMemory {
public:
    GuestRam() = default;
    GuestRam(GuestRam&&) = default;
    GuestRam& operator=(GuestRam&&) = default;

    // Adds RAM at [guest_address, +size). Both must be page aligned and the range
    // must not overlap RAM added before.
    void add_ram(std::uint64_t guest_address, std::uint64_t size,
                 PageSize pages = PageSize::normal);

    // Adds RAM at [guest_address, +size) holding the file open on `fd` from `offset`:
    // mapped copy-on-write (FileLoad::lazy) or copied (eager), see FileLoad; the same
    // checks as add_ram.
    void add_file_ram(std::uint64_t guest_address, std::uint64_t size, int fd, std::uint64_t offset,
                      FileLoad load = FileLoad::lazy);

private:
    void check_new_region(std::uint64_t guest_address, std::uint64_t size) const;
    void insert(RamRegion region);
};

}  // namespace berth::memory
