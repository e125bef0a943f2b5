#include "vmm/machine/working_set.hpp"

#include <fcntl.h>

#include <cstdio>

#include <fmt/format.h>

#include "vmm/common/error.hpp"

namespace berth::machine {

std::unique_ptr<WorkingSetRecorder> WorkingSetRecorder::start(const std::filesystem::path& dir) {
    UniqueFd pagemap(::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
    if (!pagemap) {
        return nullptr;
    }
    try {
        OutputFile file =
            OutputFile::create(dir / snapshot_working_set_file, "snapshot working-set file");
        return std::unique_ptr<WorkingSetRecorder>(
            new WorkingSetRecorder(std::move(file), std::move(pagemap)));
    } catch (const Error&) {
        // A snapshot on read-only storage restores as before, lazily, every time.
        return nullptr;
    }
}

std::vector<WorkingSetRun> resident_working_set(int pagemap_fd, const memory::GuestMemory& memory) {
    std::vector<WorkingSetRun> runs;
    for (const auto& region : memory.regions()) {
        for (const auto& run :
             memory::resident_page_runs(pagemap_fd, region.mapping.data(), region.mapping.size())) {
            runs.push_back({region.guest_address + run.first_page * memory::resident_page_size,
                            run.pages, run.use});
        }
    }
    return runs;
}

void WorkingSetRecorder::record(const memory::GuestMemory& memory) {
    if (recorded_) {
        return;
    }
    recorded_ = true;
    try {
        const auto bytes = encode_working_set(resident_working_set(pagemap_.get(), memory));
        file_.write(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
        file_.commit();
    } catch (const Error& e) {
        // The temporary file goes with file_; restores stay lazy.
        std::fprintf(stderr, "berth: note: the snapshot's working set was not recorded: %s\n",
                     e.what());
    }
}

PreFaultResult pre_fault_working_set(kvm::Vcpu& vcpu, memory::GuestRam& memory,
                                     std::span<const WorkingSetRun> runs) {
    PreFaultResult result;
    const auto region_of = [&memory](std::uint64_t address) -> const memory::RamRegion& {
        for (const auto& region : memory.regions()) {
            if (address >= region.guest_address && address < region.end()) {
                return region;
            }
        }
        throw Error(fmt::format("working set: guest address {:#x} is not RAM", address));
    };
    for (const auto& run : runs) {
        if (run.use == memory::PageUse::written) {
            const auto& region = region_of(run.guest_address);
            region.mapping.populate_for_write(run.guest_address - region.guest_address,
                                              run.pages * memory::resident_page_size);
            result.written_pages += run.pages;
        }
    }
    // Neighbouring runs of either use go to KVM as one range: it maps each page as its
    // host page table allows.
    std::size_t i = 0;
    while (i < runs.size()) {
        const std::uint64_t start = runs[i].guest_address;
        std::uint64_t end = start + runs[i].pages * memory::resident_page_size;
        std::uint64_t pages = runs[i].pages;
        ++i;
        while (i < runs.size() && runs[i].guest_address == end &&
               &region_of(runs[i].guest_address) == &region_of(start)) {
            end += runs[i].pages * memory::resident_page_size;
            pages += runs[i].pages;
            ++i;
        }
        if (!vcpu.pre_fault_memory(start, end - start)) {
            result.refused = true;
            return result;
        }
        result.pages += pages;
    }
    return result;
}

}  // namespace berth::machine
