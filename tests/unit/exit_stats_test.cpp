#include <catch2/catch.hpp>

#include <string>
#include <string_view>

#include "vmm/kvm/kvm_abi.hpp"

#include "vmm/machine/exit_stats.hpp"

using berth::machine::ExitStats;
using berth::machine::IoDirection;
using berth::machine::MmioDirection;

TEST_CASE("exit stats count by reason and port, and merge", "[exits]") {
    ExitStats a;
    a.count_exit(KVM_EXIT_IO);
    a.count_port(0x3f8, IoDirection::out, "serial");
    ExitStats b;
    b.count_exit(KVM_EXIT_IO);
    b.count_port(0x3f8, IoDirection::out, "serial");
    b.count_exit(KVM_EXIT_HLT);
    a.merge(b);
    CHECK(a.total() == 3);
    CHECK(a.exits(KVM_EXIT_IO) == 2);
    CHECK(a.port_accesses(0x3f8, IoDirection::out) == 2);
    CHECK(a.port_accesses(0x3f8, IoDirection::in) == 0);
    const std::string table = a.table();
    CHECK_THAT(table, Catch::Contains("VM exits: 3"));
    CHECK_THAT(table, Catch::Contains("0x3f8"));
    CHECK_THAT(table, Catch::Contains("HLT"));
}

TEST_CASE("exit stats name an MMIO address once, not on every exit", "[exits]") {
    ExitStats stats;
    int asked = 0;
    const auto name = [&asked] {
        ++asked;
        return std::string_view("virtio-rng");
    };
    for (int i = 0; i < 3; ++i) {
        stats.count_mmio(0xe0000000, MmioDirection::read, name);
    }
    CHECK(asked == 1);
    CHECK(stats.mmio_accesses(0xe0000000, MmioDirection::read) == 3);
    // An address nobody claims has no name; it is asked again, in case one appears.
    const auto nobody = [&asked] {
        ++asked;
        return std::string_view();
    };
    stats.count_mmio(0xd0001000, MmioDirection::read, nobody);
    stats.count_mmio(0xd0001000, MmioDirection::read, nobody);
    CHECK(asked == 3);
    const std::string table = stats.table();
    CHECK_THAT(table, Catch::Contains("virtio-rng"));
    CHECK_THAT(table, Catch::Contains("(none)"));
}
