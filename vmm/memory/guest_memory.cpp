#include "vmm/memory/guest_memory.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

namespace berth::memory {

namespace {

constexpr std::uint64_t page_size = 4096;

}  // namespace

void GuestRam::add_ram(std::uint64_t guest_address, std::uint64_t size, PageSize pages) {
    check_new_region(guest_address, size);
    insert(RamRegion{guest_address, Mapping(size, pages)});
}

void GuestRam::add_file_ram(std::uint64_t guest_address, std::uint64_t size, int fd,
                            std::uint64_t offset, FileLoad load) {
    check_new_region(guest_address, size);
    insert(RamRegion{guest_address, load == FileLoad::eager
                                        ? Mapping::copied_from_file(fd, offset, size)
                                        : Mapping(fd, offset, size)});
}

void GuestRam::check_new_region(std::uint64_t guest_address, std::uint64_t size) const {
    if (size == 0 || guest_address % page_size != 0 || size % page_size != 0) {
        throw Error(fmt::format("guest RAM at {:#x} of {:#x} bytes is not page aligned",
                                guest_address, size));
    }
    if (guest_address + size < guest_address) {
        throw Error(
            fmt::format("guest RAM at {:#x} of {:#x} bytes wraps around", guest_address, size));
    }
    for (const auto& region : regions_) {
        if (guest_address < region.end() && region.guest_address < guest_address + size) {
            throw Error(fmt::format("guest RAM at {:#x} overlaps RAM at {:#x}", guest_address,
                                    region.guest_address));
        }
    }
}

void GuestRam::insert(RamRegion region) {
    regions_.push_back(std::move(region));
    std::sort(regions_.begin(), regions_.end(), [](const RamRegion& a, const RamRegion& b) {
        return a.guest_address < b.guest_address;
    });
}

std::uint64_t GuestMemory::total_size() const {
    std::uint64_t total = 0;
    for (const auto& region : regions_) {
        total += region.size();
    }
    return total;
}

const RamRegion* GuestMemory::find(std::uint64_t address, std::uint64_t length) const {
    for (const auto& region : regions_) {
        // Written so that no sum can overflow: address + length may wrap for
        // hostile inputs, offsets within a region cannot.
        if (address < region.guest_address || address > region.end()) {
            continue;
        }
        const std::uint64_t offset = address - region.guest_address;
        if (length <= region.size() - offset) {
            return &region;
        }
    }
    return nullptr;
}

bool GuestMemory::contains(std::uint64_t address, std::uint64_t length) const {
    return find(address, length) != nullptr;
}

std::span<const std::uint8_t> GuestMemory::span(std::uint64_t address, std::uint64_t length) const {
    const RamRegion* region = find(address, length);
    if (region == nullptr) {
        throw GuestMemoryError(
            fmt::format("guest memory access at {:#x} of {} bytes is outside guest RAM ({} bytes)",
                        address, length, total_size()));
    }
    return {region->mapping.data() + (address - region->guest_address),
            static_cast<std::size_t>(length)};
}

std::span<std::uint8_t> GuestMemory::span(std::uint64_t address, std::uint64_t length) {
    const auto view = std::as_const(*this).span(address, length);
    return {const_cast<std::uint8_t*>(view.data()), view.size()};
}

void GuestMemory::read(std::uint64_t address, std::span<std::uint8_t> out) const {
    const auto source = span(address, out.size());
    std::copy(source.begin(), source.end(), out.begin());
}

void GuestMemory::write(std::uint64_t address, std::span<const std::uint8_t> in) {
    const auto target = span(address, in.size());
    std::copy(in.begin(), in.end(), target.begin());
}

void GuestMemory::fill(std::uint64_t address, std::uint64_t length, std::uint8_t value) {
    const auto target = span(address, length);
    std::fill(target.begin(), target.end(), value);
}

}  // namespace berth::memory
