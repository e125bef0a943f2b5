#include <catch2/catch.hpp>

#include "vmm/kvm/kvm_abi.hpp"

#include "vmm/machine/exit_stats.hpp"

using berth::machine::ExitStats;
using berth::machine::IoDirection;

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
