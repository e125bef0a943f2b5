#include <catch2/catch.hpp>

#include "vmm/common/error.hpp"
#include "vmm/container/run_options.hpp"

using namespace berth::container;

namespace {

template <typename F>
void expect_bad_input(F&& parse, const char* flag) {
    try {
        parse();
        FAIL("accepted");
    } catch (const berth::Error& e) {
        CHECK(e.status() == berth::ExitStatus::bad_input);
        CHECK_THAT(e.what(), Catch::Contains(flag));
    }
}

}  // namespace

TEST_CASE("CIDRs parse into address and prefix", "[container]") {
    const auto cidr = berth::net::parse_cidr("10.88.1.20/16", "--ip");
    CHECK(cidr.address == 0x0a580114);
    CHECK(cidr.prefix == 16);
    CHECK(cidr.text() == "10.88.1.20/16");
    CHECK(cidr.netmask() == 0xffff0000);
    CHECK(berth::net::parse_cidr("0.0.0.0/0", "--ip").netmask() == 0);
    for (const char* text :
         {"", "10.88.1.20", "10.88.1/16", "10.88.1.256/16", "10.88.1.2/33", "a.b.c.d/8",
          "10.88.1.2/", "10..1.2/16", "10.88.1.2.3/16", "10.88.1.2/-1", "1000.1.1.1/8"}) {
        INFO(text);
        expect_bad_input([&] { berth::net::parse_cidr(text, "--ip"); }, "--ip");
    }
}

TEST_CASE("bridge addresses must be hosts in 10.88.0.0/16", "[container]") {
    CHECK(parse_bridge_ip("10.88.0.5/16").address == 0x0a580005);
    for (const char* text : {"10.88.0.1/16", "10.88.0.0/16", "10.88.255.255/16", "10.89.0.5/16",
                             "10.88.0.5/24", "192.168.1.2/24"}) {
        INFO(text);
        expect_bad_input([&] { parse_bridge_ip(text); }, "--ip");
    }
}

TEST_CASE("--user takes UID or UID:GID", "[container]") {
    CHECK(parse_user("1000").uid == 1000);
    CHECK(parse_user("1000").gid == 1000);
    const auto user = parse_user("65534:100");
    CHECK(user.uid == 65534);
    CHECK(user.gid == 100);
    for (const char* text : {"", "bob", "1000:", ":1000", "1:2:3", "-1", "4294967295", "12a"}) {
        INFO(text);
        expect_bad_input([&] { parse_user(text); }, "--user");
    }
}

TEST_CASE("--env takes KEY=VALUE and later entries win", "[container]") {
    CHECK(parse_env("A_1=x=y") == "A_1=x=y");
    CHECK(parse_env("EMPTY=") == "EMPTY=");
    for (const char* text : {"", "=x", "NOEQUALS", "1A=x", "A-B=x", "A B=x"}) {
        INFO(text);
        expect_bad_input([&] { parse_env(text); }, "--env");
    }
    RunOptions options;
    options.hostname = "box";
    options.env = {"PATH=/bin", "FOO=1", "FOO=2"};
    const auto env = container_environment(options);
    CHECK(std::count(env.begin(), env.end(), "FOO=2") == 1);
    CHECK(std::count(env.begin(), env.end(), "FOO=1") == 0);
    CHECK(std::count(env.begin(), env.end(), "HOSTNAME=box") == 1);
    CHECK(environment_path(env) == "/bin");
}

TEST_CASE("limits parse with their bounds", "[container]") {
    CHECK(parse_cpus("0.5") == 50000);
    CHECK(parse_cpus("2") == 200000);
    CHECK(parse_memory("64M") == 64ULL << 20);
    CHECK(parse_pids("64") == 64);
    for (const char* text : {"", "0", "0.001", "-1", "x", "nan", "inf", "1e9"}) {
        INFO(text);
        expect_bad_input([&] { parse_cpus(text); }, "--cpus");
    }
    for (const char* text : {"", "1", "0", "-5", "5000000", "ten"}) {
        INFO(text);
        expect_bad_input([&] { parse_pids(text); }, "--pids");
    }
    expect_bad_input([] { parse_memory("1M"); }, "--memory");
    expect_bad_input([] { parse_memory("lots"); }, "--memory");
    CHECK(parse_net_mode("bridge") == NetMode::bridge);
    expect_bad_input([] { parse_net_mode("wifi"); }, "--net");
    check_name("web-1.a_b", "--name");
    for (const char* text : {"", "-x", ".x", "a/b", "a b",
                             "0123456789012345678901234567890123456789012345678901234567890123"}) {
        INFO(text);
        expect_bad_input([&] { check_name(text, "--name"); }, "--name");
    }
}

TEST_CASE("a value with control characters is refused in one line", "[container]") {
    const auto one_line_error = [](auto&& parse) {
        try {
            parse();
            FAIL("accepted");
        } catch (const berth::Error& e) {
            CHECK(e.status() == berth::ExitStatus::bad_input);
            const std::string message = e.what();
            CHECK(message.find('\n') == std::string::npos);
            CHECK(message.find('\x1b') == std::string::npos);
        }
    };
    one_line_error([] { check_name("a\nb", "--hostname"); });
    one_line_error([] { check_name("a\x1b[2Jb", "--name"); });
    one_line_error([] { parse_env("A\nB=1"); });
    one_line_error([] { parse_user("1\n2"); });
    one_line_error([] { parse_cpus("1\n"); });
    one_line_error([] { parse_pids("5\nberth: forged"); });
    one_line_error([] { parse_memory("64M\n"); });
    one_line_error([] { parse_net_mode("host\n"); });
    one_line_error([] { parse_bridge_ip("10.88.0.5/16\n"); });
}

TEST_CASE("an address or prefix with a leading zero is refused, not read as decimal",
          "[container]") {
    // inet_aton reads 010 as octal 8; berth would read 10: refuse both readings.
    for (const char* text : {"10.88.0.5/016", "10.88.0.05/16", "010.88.0.5/16", "10.88.0.5/00"}) {
        INFO(text);
        expect_bad_input([&] { berth::net::parse_cidr(text, "--ip"); }, "--ip");
    }
    CHECK(berth::net::parse_cidr("10.0.0.0/8", "--ip").prefix == 8);
    CHECK(berth::net::parse_cidr("0.0.0.0/0", "--ip").prefix == 0);
}
