#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>

#include "vmm/common/error.hpp"
#include "vmm/container/device_filter.hpp"

using namespace berth::container;

namespace {

// A reference interpreter for the eBPF instructions the device program may use, each as
// the kernel's instruction-set document defines it; anything else fails the test. It
// runs the program on one request the way the kernel does on open(2) or mknod(2).
struct Request {
    char type;  // b or c
    std::uint32_t major;
    std::uint32_t minor;
    const char* access;  // of r, w, m
};

std::optional<std::uint64_t> run(const std::vector<bpf_insn>& program, const Request& request) {
    std::uint32_t accesses = 0;
    for (const char* a = request.access; *a != 0; ++a) {
        accesses |= *a == 'm'   ? BPF_DEVCG_ACC_MKNOD
                    : *a == 'r' ? BPF_DEVCG_ACC_READ
                                : BPF_DEVCG_ACC_WRITE;
    }
    const bpf_cgroup_dev_ctx ctx{
        (accesses << 16) | (request.type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR),
        request.major, request.minor};
    std::uint64_t reg[11] = {};
    std::size_t pc = 0;
    for (int steps = 0; steps < 100000 && pc < program.size(); ++steps) {
        const bpf_insn& insn = program[pc++];
        const std::uint64_t imm = static_cast<std::uint64_t>(static_cast<std::int64_t>(insn.imm));
        std::uint64_t& dst = reg[insn.dst_reg];
        switch (insn.code) {
            case BPF_LDX | BPF_MEM | BPF_W: {
                // Only the context (r1 at the start) is read, at an aligned field.
                REQUIRE(insn.src_reg == 1);
                REQUIRE(insn.off >= 0);
                REQUIRE(insn.off + 4 <= static_cast<int>(sizeof ctx));
                REQUIRE(insn.off % 4 == 0);
                const auto* words = reinterpret_cast<const std::uint32_t*>(&ctx);
                dst = words[insn.off / 4];
                break;
            }
            case BPF_ALU64 | BPF_MOV | BPF_K:
                dst = imm;
                break;
            case BPF_ALU64 | BPF_MOV | BPF_X:
                dst = reg[insn.src_reg];
                break;
            case BPF_ALU64 | BPF_AND | BPF_K:
                dst &= imm;
                break;
            case BPF_ALU64 | BPF_RSH | BPF_K:
                dst >>= insn.imm;
                break;
            case BPF_JMP | BPF_JA:
                pc += insn.off;
                break;
            case BPF_JMP | BPF_JSET | BPF_K:
                pc += (dst & imm) != 0 ? insn.off : 0;
                break;
            case BPF_JMP | BPF_JNE | BPF_K:
                pc += dst != imm ? insn.off : 0;
                break;
            case BPF_JMP | BPF_EXIT:
                return reg[0];
            default:
                FAIL("unexpected opcode " << int(insn.code) << " at " << pc - 1);
        }
        // The verifier takes no backward jump here: a loop would be a bug.
        REQUIRE(insn.off >= 0);
    }
    return std::nullopt;  // ran off the end or looped: the verifier would refuse it
}

bool allowed(const std::vector<DeviceAccess>& rules, const Request& request) {
    const auto answer = run(device_filter_program(rules), request);
    REQUIRE(answer.has_value());
    REQUIRE((*answer == 0 || *answer == 1));
    return *answer == 1;
}

DeviceAccess rule(bool allow, char type, std::int64_t major, std::int64_t minor,
                  const char* access) {
    return {allow, type, major, minor, access, "linux.resources.devices[0]"};
}

}  // namespace

TEST_CASE("no device rule allows every device", "[container][devices]") {
    CHECK(allowed({}, {'c', 10, 237, "rw"}));
    CHECK(allowed({}, {'b', 7, 0, "m"}));
}

TEST_CASE("deny all, then allow one node: only it opens", "[container][devices]") {
    const std::vector<DeviceAccess> rules{rule(false, 'a', -1, -1, "rwm"),
                                          rule(true, 'c', 1, 3, "rwm")};
    CHECK(allowed(rules, {'c', 1, 3, "rw"}));
    CHECK(allowed(rules, {'c', 1, 3, "m"}));
    CHECK_FALSE(allowed(rules, {'c', 1, 5, "r"}));
    CHECK_FALSE(allowed(rules, {'b', 1, 3, "r"}));  // the type counts too
    CHECK_FALSE(allowed(rules, {'c', 3, 1, "r"}));
}

TEST_CASE("the last rule that matches wins", "[container][devices]") {
    const std::vector<DeviceAccess> rules{rule(false, 'a', -1, -1, "rwm"),
                                          rule(true, 'c', 10, -1, "rwm"),
                                          rule(false, 'c', 10, 237, "w")};
    CHECK(allowed(rules, {'c', 10, 237, "r"}));
    CHECK_FALSE(allowed(rules, {'c', 10, 237, "w"}));
    CHECK_FALSE(allowed(rules, {'c', 10, 237, "rw"}));  // every access asked must be allowed
    CHECK(allowed(rules, {'c', 10, 200, "rw"}));        // -1: any minor
    // A later allow undoes an earlier deny.
    const std::vector<DeviceAccess> undone{rule(false, 'c', 4, 1, "rwm"),
                                           rule(true, 'c', 4, 1, "r")};
    CHECK(allowed(undone, {'c', 4, 1, "r"}));
    CHECK_FALSE(allowed(undone, {'c', 4, 1, "w"}));
}

TEST_CASE("each access is decided on its own, by the rules that name it", "[container][devices]") {
    const std::vector<DeviceAccess> rules{rule(false, 'a', -1, -1, "rwm"),
                                          rule(true, 'c', 1, 9, "r"), rule(true, 'c', 1, 9, "w")};
    CHECK(allowed(rules, {'c', 1, 9, "rw"}));
    CHECK_FALSE(allowed(rules, {'c', 1, 9, "m"}));
    // A wildcard major with a fixed minor, and mknod of any block device.
    const std::vector<DeviceAccess> mknod{
        rule(false, 'a', -1, -1, "rwm"), rule(true, 'c', -1, 5, "r"), rule(true, 'b', -1, -1, "m")};
    CHECK(allowed(mknod, {'c', 42, 5, "r"}));
    CHECK_FALSE(allowed(mknod, {'c', 42, 6, "r"}));
    CHECK(allowed(mknod, {'b', 8, 0, "m"}));
    CHECK_FALSE(allowed(mknod, {'c', 8, 0, "m"}));
    CHECK_FALSE(allowed(mknod, {'b', 8, 0, "r"}));
}

TEST_CASE("the program reads the context's fields and ends in exit", "[container][devices]") {
    const auto program = device_filter_program({{rule(false, 'a', -1, -1, "rwm")}});
    REQUIRE(program.size() > 2);
    CHECK(program.front().code == (BPF_LDX | BPF_MEM | BPF_W));
    CHECK(program.front().off == offsetof(bpf_cgroup_dev_ctx, access_type));
    CHECK(program.back().code == (BPF_JMP | BPF_EXIT));
}

TEST_CASE("a rule the program cannot express is bad input naming it", "[container][devices]") {
    try {
        device_filter_program({{rule(true, 'x', 1, 3, "r")}});
        FAIL("no error");
    } catch (const berth::Error& e) {
        CHECK(e.status() == berth::ExitStatus::bad_input);
        CHECK_THAT(e.what(), Catch::Contains("linux.resources.devices[0]: type 'x'"));
    }
    CHECK_THROWS_WITH(device_filter_program({{rule(true, 'c', 1, 3, "rx")}}),
                      Catch::Contains("access 'rx' is not made of r, w and m"));
    CHECK_THROWS_WITH(device_filter_program({{rule(true, 'c', 1LL << 32, 3, "r")}}),
                      Catch::Contains("major 4294967296 is above"));
}

TEST_CASE("v1 takes the same rules as text", "[container][devices]") {
    CHECK(v1_device_rule(rule(false, 'a', -1, -1, "rwm")) == "a");
    CHECK(v1_device_rule(rule(true, 'c', 1, 3, "rwm")) == "c 1:3 rwm");
    CHECK(v1_device_rule(rule(true, 'c', 136, -1, "rw")) == "c 136:* rw");
    CHECK(v1_device_rule(rule(true, 'b', -1, -1, "m")) == "b *:* m");
}
