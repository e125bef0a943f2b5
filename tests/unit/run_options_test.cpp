#include <catch2/catch.hpp>

#include "vmm/common/error.hpp"
#include "vmm/container/run_options.hpp"

using berth::container::cpu_period_us;
using berth::container::parse_cpus;

TEST_CASE("--cpus is read exactly into microseconds of quota per period") {
    CHECK(parse_cpus("1") == cpu_period_us);
    CHECK(parse_cpus("0.5") == cpu_period_us / 2);
    CHECK(parse_cpus(".25") == cpu_period_us / 4);
    CHECK(parse_cpus("2.") == 2 * cpu_period_us);
    CHECK(parse_cpus("1.5") == 3 * cpu_period_us / 2);
    CHECK(parse_cpus("0.01") == cpu_period_us / 100);
    CHECK(parse_cpus("1024") == 1024 * cpu_period_us);
    // Below a microsecond of quota the digits still count as digits, and round.
    CHECK(parse_cpus("0.333333333") == 33333);
    CHECK(parse_cpus("0.0100049") == 1000);
    CHECK(parse_cpus("0.123456") == 12346);
}

TEST_CASE("--cpus refuses what is not a decimal from 0.01 to 1024") {
    for (const char* text :
         {"", ".", "lots", "-1", "+1", "1e2", "0x10", " 1", "1 ", "1.5.2", "0.5x", "0", "0.009",
          "1024.01", "99999999999999999999", "nan", "inf"}) {
        INFO("--cpus '" << text << "'");
        CHECK_THROWS_AS(parse_cpus(text), berth::Error);
    }
}
