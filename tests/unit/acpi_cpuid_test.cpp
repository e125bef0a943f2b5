#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <string>

#include "tests/unit/byte_compare.hpp"
#include "vmm/memory/platform_layout.hpp"
#include "vmm/x86/acpi.hpp"
#include "vmm/x86/cpuid.hpp"

using namespace berth;
using test::same_bytes;

namespace {

constexpr std::uint64_t base = 0xe0000;

struct TableView {
    const x86::AcpiTables& tables;

    std::span<const std::uint8_t> at(std::uint64_t address, std::size_t length) const {
        REQUIRE(address >= base);
        REQUIRE(address - base + length <= tables.bytes.size());
        return std::span(tables.bytes).subspan(address - base, length);
    }
    template <typename T>
    T load(std::uint64_t address) const {
        T value;
        std::memcpy(&value, at(address, sizeof value).data(), sizeof value);
        return value;
    }
    std::string signature(std::uint64_t address) const {
        const auto bytes = at(address, 4);
        return std::string(bytes.begin(), bytes.end());
    }
    // A whole system description table, by the length in its header.
    std::span<const std::uint8_t> table(std::uint64_t address) const {
        return at(address, load<std::uint32_t>(address + 4));
    }
};

unsigned byte_sum(std::span<const std::uint8_t> bytes) {
    return std::accumulate(bytes.begin(), bytes.end(), 0U) & 0xff;
}

kvm_cpuid_entry2 leaf(std::uint32_t function, std::uint32_t index, std::uint32_t eax,
                      std::uint32_t ebx, std::uint32_t ecx, std::uint32_t edx,
                      std::uint32_t flags = 0) {
    kvm_cpuid_entry2 e{};
    e.function = function;
    e.index = index;
    e.flags = flags;
    e.eax = eax;
    e.ebx = ebx;
    e.ecx = ecx;
    e.edx = edx;
    return e;
}

// A plausible KVM_GET_SUPPORTED_CPUID answer: max basic leaf 0xd, an L1 and L3 cache in
// leaf 4, host topology in leaf 0xB, and KVM's own leaves.
std::vector<kvm_cpuid_entry2> host_cpuid() {
    const std::uint32_t indexed = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
    return {
        leaf(0, 0, 0xd, 0x756e6547, 0x6c65746e, 0x49656e69),
        leaf(1, 0, 0x000906ea, 0x07100800, 0x7ffafbff, 0xbfebfbff),
        leaf(4, 0, 0x1c004121, 0, 0, 0, indexed),  // L1 data
        leaf(4, 1, 0x1c004163, 0, 0, 0, indexed),  // L3
        leaf(4, 2, 0, 0, 0, 0, indexed),
        leaf(0xb, 0, 1, 2, 0x100, 7, indexed),
        leaf(0xb, 1, 4, 12, 0x201, 7, indexed),
        leaf(0x40000000, 0, 0x40000001, 0, 0, 0),
        leaf(0x40000001, 0, 0x01007afb, 0, 0, 0),
    };
}

}  // namespace

TEST_CASE("ACPI tables checksum to zero and link RSDP -> XSDT -> FADT/MADT -> DSDT",
          "[x86][acpi]") {
    const auto tables = x86::build_acpi_tables(base, 2);
    const TableView view{tables};
    REQUIRE(tables.rsdp_address == base);

    const auto rsdp = view.at(tables.rsdp_address, 36);
    CHECK(std::string(rsdp.begin(), rsdp.begin() + 8) == "RSD PTR ");
    CHECK(byte_sum(rsdp.first(20)) == 0);
    CHECK(byte_sum(rsdp) == 0);
    CHECK(rsdp[15] == 2);  // revision: has an XSDT
    CHECK(view.load<std::uint32_t>(base + 20) == 36);
    CHECK(view.load<std::uint64_t>(base + 24) == tables.xsdt_address);

    CHECK(view.signature(tables.xsdt_address) == "XSDT");
    CHECK(view.signature(tables.fadt_address) == "FACP");
    CHECK(view.signature(tables.madt_address) == "APIC");
    CHECK(view.signature(tables.dsdt_address) == "DSDT");
    for (std::uint64_t address :
         {tables.xsdt_address, tables.fadt_address, tables.madt_address, tables.dsdt_address}) {
        INFO("table " << view.signature(address));
        CHECK(byte_sum(view.table(address)) == 0);
    }
    // The XSDT lists the FADT and the MADT.
    const auto xsdt = view.table(tables.xsdt_address);
    REQUIRE(xsdt.size() == 36 + 16);
    CHECK(view.load<std::uint64_t>(tables.xsdt_address + 36) == tables.fadt_address);
    CHECK(view.load<std::uint64_t>(tables.xsdt_address + 44) == tables.madt_address);
    // The FADT points at the DSDT (32- and 64-bit fields), is hardware reduced, and its
    // sleep control register is berth's port.
    CHECK(view.load<std::uint32_t>(tables.fadt_address + 40) == tables.dsdt_address);
    CHECK(view.load<std::uint64_t>(tables.fadt_address + 140) == tables.dsdt_address);
    CHECK((view.load<std::uint32_t>(tables.fadt_address + 112) & (1U << 20)) != 0);
    CHECK(view.load<std::uint8_t>(tables.fadt_address + 244) == 1);  // system I/O
    CHECK(view.load<std::uint64_t>(tables.fadt_address + 248) == layout::acpi_sleep_control_port);
}

TEST_CASE("the MADT lists one enabled local APIC per vCPU", "[x86][acpi]") {
    for (std::uint32_t cpus : {1U, 2U, 4U, 8U}) {
        INFO(cpus << " vCPUs");
        const auto tables = x86::build_acpi_tables(base, cpus);
        const TableView view{tables};
        const auto madt = view.table(tables.madt_address);
        CHECK(byte_sum(madt) == 0);
        CHECK(view.load<std::uint32_t>(tables.madt_address + 36) == layout::lapic_address);
        std::vector<std::uint8_t> apic_ids;
        int ioapics = 0;
        for (std::size_t offset = 44; offset < madt.size();) {
            const std::uint8_t type = madt[offset];
            const std::uint8_t length = madt[offset + 1];
            REQUIRE(length >= 2);
            if (type == 0) {
                std::uint32_t flags;
                std::memcpy(&flags, &madt[offset + 4], 4);
                CHECK((flags & 1) == 1);
                apic_ids.push_back(madt[offset + 3]);
            } else if (type == 1) {
                ++ioapics;
                std::uint32_t address;
                std::memcpy(&address, &madt[offset + 4], 4);
                CHECK(address == layout::ioapic_address);
            }
            offset += length;
        }
        CHECK(ioapics == 1);
        REQUIRE(apic_ids.size() == cpus);
        for (std::uint32_t i = 0; i < cpus; ++i) {
            CHECK(apic_ids[i] == i);
        }
    }
}

TEST_CASE("the DSDT defines \\_S5_ and describes COM1", "[x86][acpi]") {
    const auto tables = x86::build_acpi_tables(base, 1);
    const TableView view{tables};
    const auto dsdt = view.table(tables.dsdt_address);
    const auto contains = [&](std::initializer_list<std::uint8_t> needle) {
        return std::search(dsdt.begin(), dsdt.end(), needle.begin(), needle.end()) != dsdt.end();
    };
    CHECK(contains({0x08, '_', 'S', '5', '_', 0x12}));
    CHECK(contains({0x5b, 0x82}));  // DeviceOp
    CHECK(contains({'C', 'O', 'M', '1'}));
    CHECK(contains({'_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x05, 0x01}));  // EisaId("PNP0501")
    CHECK(contains({0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08}));    // IO 0x3f8, 8 ports
    CHECK(contains({0x22, 0x10, 0x00}));                                  // IRQ 4
}

TEST_CASE("acpi_checksum makes bytes sum to zero", "[x86][acpi]") {
    std::vector<std::uint8_t> bytes = {1, 2, 3, 250, 0};
    bytes[4] = x86::acpi_checksum(bytes);
    CHECK(byte_sum(bytes) == 0);
}

TEST_CASE("guest CPUID gives each vCPU its APIC ID and the package topology", "[x86][cpuid]") {
    const auto host = host_cpuid();
    for (std::uint32_t cpu = 0; cpu < 4; ++cpu) {
        INFO("vCPU " << cpu);
        const auto guest = x86::guest_cpuid(host, cpu, 4);
        const auto* features = x86::find_cpuid(guest, 1);
        REQUIRE(features != nullptr);
        CHECK(features->ebx >> 24 == cpu);
        CHECK(((features->ebx >> 16) & 0xff) == 4);
        CHECK((features->ebx & 0xffff) == 0x0800);  // brand index and CLFLUSH size kept
        CHECK((features->ecx & (1U << 31)) != 0);   // hypervisor present
        CHECK((features->edx & (1U << 28)) != 0);   // HTT: more than one logical CPU
        for (std::uint32_t level = 0; level < 3; ++level) {
            const auto* topology = x86::find_cpuid(guest, 0xb, level);
            REQUIRE(topology != nullptr);
            CHECK(topology->edx == cpu);
            CHECK((topology->ecx & 0xff) == level);
        }
        const auto* cores = x86::find_cpuid(guest, 0xb, 1);
        CHECK(cores->ebx == 4);
        CHECK(cores->eax == 2);                  // two APIC ID bits number 4 cores
        CHECK(((cores->ecx >> 8) & 0xff) == 2);  // level type: core
        CHECK(((x86::find_cpuid(guest, 0xb, 2)->ecx >> 8) & 0xff) == 0);
        // Leaf 4: the last-level cache is shared by the 4 cores, L1 by none.
        CHECK(((x86::find_cpuid(guest, 4, 0)->eax >> 14) & 0xfff) == 0);
        CHECK(((x86::find_cpuid(guest, 4, 1)->eax >> 14) & 0xfff) == 3);
        CHECK((x86::find_cpuid(guest, 4, 1)->eax >> 26) == 3);
    }
}

TEST_CASE("a single vCPU has no HTT bit and APIC ID 0", "[x86][cpuid]") {
    const auto guest = x86::guest_cpuid(host_cpuid(), 0, 1);
    const auto* features = x86::find_cpuid(guest, 1);
    CHECK(features->ebx >> 24 == 0);
    CHECK((features->edx & (1U << 28)) == 0);
    CHECK(x86::find_cpuid(guest, 0xb, 1)->eax == 0);
}

TEST_CASE("guest CPUID carries KVM's signature and feature leaves", "[x86][cpuid]") {
    SECTION("host list already has them") {
        const auto guest = x86::guest_cpuid(host_cpuid(), 0, 1);
        const auto* signature = x86::find_cpuid(guest, x86::kvm_cpuid_signature_leaf);
        REQUIRE(signature != nullptr);
        char name[12];
        std::memcpy(name, &signature->ebx, 4);
        std::memcpy(name + 4, &signature->ecx, 4);
        std::memcpy(name + 8, &signature->edx, 4);
        CHECK(same_bytes(std::string_view(name, 12), std::string_view("KVMKVMKVM\0\0\0", 12)));
        CHECK(signature->eax >= x86::kvm_cpuid_features_leaf);
        const auto* features = x86::find_cpuid(guest, x86::kvm_cpuid_features_leaf);
        REQUIRE(features != nullptr);
        CHECK(features->eax == 0x01007afb);  // what KVM offers, passed on (kvm-clock etc.)
    }
    SECTION("host list without them gets the signature leaf") {
        auto host = host_cpuid();
        std::erase_if(host, [](const kvm_cpuid_entry2& e) { return e.function >= 0x40000000; });
        const auto guest = x86::guest_cpuid(host, 0, 1);
        const auto* signature = x86::find_cpuid(guest, x86::kvm_cpuid_signature_leaf);
        REQUIRE(signature != nullptr);
        CHECK(signature->ebx == 0x4b4d564b);  // "KVMK"
        CHECK(signature->eax == x86::kvm_cpuid_features_leaf);
    }
    SECTION("no topology leaf when the host's max basic leaf is below 0xB") {
        auto host = host_cpuid();
        host[0].eax = 0xa;
        std::erase_if(host, [](const kvm_cpuid_entry2& e) { return e.function == 0xb; });
        const auto guest = x86::guest_cpuid(host, 1, 2);
        CHECK(x86::find_cpuid(guest, 0xb, 0) == nullptr);
        CHECK(x86::find_cpuid(guest, 1)->ebx >> 24 == 1);
    }
}
