// The snapshot state file (vmm/machine/snapshot_file.hpp): what is written reads back
// the same, and every kind of damage is refused with bad input that says what is wrong.

#include <catch2/catch.hpp>

#include <zlib.h>

#include <fstream>
#include <string>
#include <vector>

#include "vmm/common/error.hpp"
#include "vmm/common/temp_dir.hpp"
#include "vmm/machine/snapshot_file.hpp"

namespace {

using berth::machine::decode_snapshot_state;
using berth::machine::encode_snapshot_state;

nlohmann::json sample_state() {
    return {{"machine", {{"cpus", 2}, {"memory_bytes", 64ULL << 20}, {"console", "ttyS0"}}},
            {"vcpus", {{{"regs", nlohmann::json::binary({1, 2, 3, 0, 255})}}}},
            {"memory", {{{"guest_address", 0}, {"size", 4096}, {"offset", 0}}}}};
}

// The message of the bad-input Error decoding `bytes` throws.
std::string refusal(const std::vector<std::uint8_t>& bytes) {
    try {
        decode_snapshot_state(bytes);
    } catch (const berth::Error& e) {
        CHECK(e.status() == berth::ExitStatus::bad_input);
        return e.what();
    }
    FAIL("decoding did not throw");
    return {};
}

}  // namespace

TEST_CASE("a snapshot state reads back as it was written", "[snapshot]") {
    const auto bytes = encode_snapshot_state(sample_state());
    REQUIRE(bytes.size() > berth::machine::snapshot_header_size);
    CHECK(std::string(bytes.begin(), bytes.begin() + 8) == "BERTHSNP");
    CHECK(bytes[8] == berth::machine::snapshot_format_version);
    const auto state = decode_snapshot_state(bytes);
    CHECK(state == sample_state());
    CHECK(state.at("vcpus").at(0).at("regs").is_binary());
}

TEST_CASE("a damaged snapshot state is refused", "[snapshot]") {
    const auto good = encode_snapshot_state(sample_state());

    SECTION("a flipped body byte fails the checksum") {
        auto bytes = good;
        bytes.back() ^= 0x40;
        CHECK(refusal(bytes).find("checksum") != std::string::npos);
    }
    SECTION("a flipped checksum byte") {
        auto bytes = good;
        bytes[12] ^= 1;
        CHECK(refusal(bytes).find("checksum") != std::string::npos);
    }
    SECTION("truncated in the body") {
        const std::vector<std::uint8_t> bytes(good.begin(), good.end() - 5);
        CHECK(refusal(bytes).find("truncated") != std::string::npos);
    }
    SECTION("truncated in the header") {
        const std::vector<std::uint8_t> bytes(good.begin(), good.begin() + 12);
        CHECK(refusal(bytes).find("truncated") != std::string::npos);
    }
    SECTION("longer than the header says") {
        auto bytes = good;
        bytes.push_back(0);
        CHECK(refusal(bytes).find("damaged") != std::string::npos);
    }
    SECTION("another format version") {
        auto bytes = good;
        bytes[8] = 99;
        const auto message = refusal(bytes);
        CHECK(message.find("version 99") != std::string::npos);
        CHECK(message.find("version 1") != std::string::npos);
    }
    SECTION("not a snapshot at all") {
        const std::string text = "{\"machine\": {}}\n";
        CHECK(refusal({text.begin(), text.end()}).find("BERTHSNP") != std::string::npos);
        CHECK(refusal({}).find("BERTHSNP") != std::string::npos);
    }
    SECTION("a body that is not MessagePack, with a matching checksum") {
        // A well-formed header around garbage: only the decoder can catch it.
        const std::vector<std::uint8_t> garbage{0xc1, 0xc1, 0x00};  // 0xc1: never used
        auto bytes = encode_snapshot_state(nlohmann::json::object());
        bytes.resize(berth::machine::snapshot_header_size);
        const auto crc = static_cast<std::uint32_t>(::crc32(0, garbage.data(), 3));
        for (unsigned i = 0; i < 4; ++i) {
            bytes[12 + i] = static_cast<std::uint8_t>(crc >> (8 * i));
        }
        bytes[16] = static_cast<std::uint8_t>(garbage.size());
        bytes.insert(bytes.end(), garbage.begin(), garbage.end());
        CHECK(refusal(bytes).find("MessagePack") != std::string::npos);
    }
}

TEST_CASE("a snapshot directory must be new or empty", "[snapshot]") {
    const berth::TempDir dir("berth-snapshot-");
    const auto target = dir.path() / "snap";
    berth::machine::prepare_snapshot_dir(target);  // created
    berth::machine::prepare_snapshot_dir(target);  // empty: accepted
    std::ofstream(target / "state") << "x";
    CHECK_THROWS_WITH(berth::machine::prepare_snapshot_dir(target), Catch::Contains("not empty"));
    CHECK_THROWS_WITH(berth::machine::prepare_snapshot_dir(dir.path() / "no" / "such"),
                      Catch::Contains("cannot create"));
}
