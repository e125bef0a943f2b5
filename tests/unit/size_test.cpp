#include <catch2/catch.hpp>

#include "vmm/common/error.hpp"
#include "vmm/common/size.hpp"

using berth::format_size;
using berth::parse_size;

TEST_CASE("sizes parse with binary suffixes", "[size]") {
    CHECK(parse_size("4096", "--memory") == 4096);
    CHECK(parse_size("64K", "--memory") == 64 * 1024);
    CHECK(parse_size("256M", "--memory") == 256ULL << 20);
    CHECK(parse_size("2g", "--memory") == 2ULL << 30);
    CHECK(parse_size("1GiB", "--memory") == 1ULL << 30);
    CHECK(parse_size("3MB", "--memory") == 3ULL << 20);
}

TEST_CASE("bad sizes are bad input naming the flag", "[size]") {
    for (const char* text : {"", "abc", "-5", "12X", "5MM", "99999999999999999999", "20000000T"}) {
        INFO(text);
        try {
            parse_size(text, "--memory");
            FAIL("accepted");
        } catch (const berth::Error& e) {
            CHECK(e.status() == berth::ExitStatus::bad_input);
            CHECK_THAT(e.what(), Catch::Contains("--memory"));
        }
    }
}

TEST_CASE("sizes print in the largest exact unit", "[size]") {
    CHECK(format_size(16ULL << 20) == "16 MiB");
    CHECK(format_size(1536) == "1536 bytes");
    CHECK(format_size(0) == "0 bytes");
}
