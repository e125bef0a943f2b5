#include <catch2/catch.hpp>

#include <array>

#include "devices/virtio/queue.hpp"
#include "tests/unit/byte_compare.hpp"
#include "tests/unit/virtio_ring_builder.hpp"

using namespace berth::devices::virtio;
using berth::test::RingBuilder;
using berth::test::same_bytes;

namespace {

SplitQueue make_queue(RingBuilder& ring, IndirectDescriptors indirect = IndirectDescriptors::on,
                      EventIdx event_idx = EventIdx::off) {
    return SplitQueue(ring.memory, ring.layout(), event_idx, indirect);
}

}  // namespace

TEST_CASE("split queue pops a readable-then-writable chain and returns it", "[virtio][queue]") {
    RingBuilder ring;
    auto queue = make_queue(ring);
    CHECK_FALSE(queue.pop());
    ring.set_desc(3, RingBuilder::data, 16, desc_flag_next, 5);
    ring.set_desc(5, RingBuilder::data + 0x100, 512, desc_flag_write | desc_flag_next, 1);
    ring.set_desc(1, RingBuilder::data + 0x400, 1, desc_flag_write);
    ring.publish(3);
    auto chain = queue.pop();
    REQUIRE(chain);
    CHECK(chain->head == 3);
    CHECK(chain->malformed.empty());
    REQUIRE(chain->readable.size() == 1);
    REQUIRE(chain->writable.size() == 2);
    CHECK(chain->readable_bytes() == 16);
    CHECK(chain->writable_bytes() == 513);
    CHECK_FALSE(queue.pop());
    queue.push_used(chain->head, 513);
    CHECK(ring.used_idx() == 1);
    CHECK(ring.used_element(0).id == 3);
    CHECK(ring.used_element(0).length == 513);
}

TEST_CASE("split queue gathers and scatters across buffers", "[virtio][queue]") {
    RingBuilder ring;
    auto queue = make_queue(ring);
    const std::array<std::uint8_t, 6> text{'a', 'b', 'c', 'd', 'e', 'f'};
    ring.memory.write(RingBuilder::data, std::span(text).first(2));
    ring.memory.write(RingBuilder::data + 0x100, std::span(text).subspan(2));
    ring.set_desc(0, RingBuilder::data, 2, desc_flag_next, 1);
    ring.set_desc(1, RingBuilder::data + 0x100, 4, desc_flag_next, 2);
    ring.set_desc(2, RingBuilder::data + 0x200, 3, desc_flag_write | desc_flag_next, 3);
    ring.set_desc(3, RingBuilder::data + 0x300, 3, desc_flag_write);
    ring.publish(0);
    auto chain = queue.pop();
    REQUIRE(chain);
    std::array<std::uint8_t, 4> middle{};
    CHECK(queue.gather(*chain, 1, middle) == 4);
    CHECK(same_bytes(middle, std::array<std::uint8_t, 4>{'b', 'c', 'd', 'e'}));
    CHECK(queue.scatter(*chain, 2, text) == 4);  // 4 of 6 writable bytes remain after offset 2
    CHECK(ring.memory.read_object<std::uint8_t>(RingBuilder::data + 0x202) == 'a');
    CHECK(ring.memory.read_object<std::uint8_t>(RingBuilder::data + 0x302) == 'd');
}

TEST_CASE("a chain as long as the queue is fine; a loop is a violation", "[virtio][queue]") {
    RingBuilder ring;
    auto queue = make_queue(ring);
    for (std::uint16_t i = 0; i < 8; ++i) {
        ring.set_desc(i, RingBuilder::data + 16 * i, 16, i < 7 ? desc_flag_next : 0, i + 1);
    }
    ring.publish(0);
    auto chain = queue.pop();
    REQUIRE(chain);
    CHECK(chain->readable.size() == 8);

    ring.set_desc(7, RingBuilder::data, 16, desc_flag_next, 2);  // 2 → ... → 7 → 2
    ring.publish(2);
    CHECK_THROWS_AS(queue.pop(), QueueViolation);
}

TEST_CASE("a self-loop ends as a violation, not a hang", "[virtio][queue]") {
    RingBuilder ring(256);
    auto queue = make_queue(ring);
    ring.set_desc(0, RingBuilder::data, 16, desc_flag_next, 0);
    ring.publish(0);
    CHECK_THROWS_AS(queue.pop(), QueueViolation);
}

TEST_CASE("head or next index outside the table is a violation", "[virtio][queue]") {
    RingBuilder ring;
    auto queue = make_queue(ring);
    ring.publish(8);
    CHECK_THROWS_AS(queue.pop(), QueueViolation);

    RingBuilder ring2;
    auto queue2 = make_queue(ring2);
    ring2.set_desc(0, RingBuilder::data, 16, desc_flag_next, 0xffff);
    ring2.publish(0);
    CHECK_THROWS_AS(queue2.pop(), QueueViolation);
}

TEST_CASE("avail idx running more than a queue ahead is a violation", "[virtio][queue]") {
    RingBuilder ring;
    auto queue = make_queue(ring);
    ring.set_desc(0, RingBuilder::data, 16);
    ring.set_avail_idx(9);
    CHECK_THROWS_AS(queue.pop(), QueueViolation);

    RingBuilder ring2;
    auto queue2 = make_queue(ring2);
    ring2.set_desc(0, RingBuilder::data, 16);
    ring2.set_avail_idx(0xffff);  // "backwards" is also far ahead in u16 arithmetic
    CHECK_THROWS_AS(queue2.pop(), QueueViolation);

    RingBuilder ring3;
    auto queue3 = make_queue(ring3);
    ring3.set_desc(0, RingBuilder::data, 16);
    ring3.set_avail_idx(8);  // exactly a queue's worth is legal
    for (int i = 0; i < 8; ++i) {
        CHECK(queue3.pop());
    }
    CHECK_FALSE(queue3.pop());
}

TEST_CASE("buffers outside RAM or in the wrong order fail only their request", "[virtio][queue]") {
    RingBuilder ring;
    auto queue = make_queue(ring);
    ring.set_desc(0, RingBuilder::ram_size - 8, 16);  // runs off the end of RAM
    ring.publish(0);
    ring.set_desc(1, 0xfffffffffffffff0ULL, 0x20);  // address + length wraps
    ring.publish(1);
    ring.set_desc(2, RingBuilder::data, 16, desc_flag_write | desc_flag_next, 3);
    ring.set_desc(3, RingBuilder::data + 16, 16);  // readable after writable
    ring.publish(2);
    ring.set_desc(4, RingBuilder::data, 0xffffffff);  // 4 GiB buffer
    ring.publish(4);
    for (std::uint16_t head : {0, 1, 2, 4}) {
        auto chain = queue.pop();
        REQUIRE(chain);
        CHECK(chain->head == head);
        CHECK_FALSE(chain->malformed.empty());
        CHECK(chain->readable.empty());
        CHECK(chain->writable.empty());
        queue.push_used(chain->head, 0);
    }
    CHECK(ring.used_idx() == 4);
}

TEST_CASE("indirect tables are followed and checked", "[virtio][queue]") {
    RingBuilder ring;
    const std::uint64_t table = RingBuilder::data + 0x1000;
    ring.memory.write_object(table, Descriptor{RingBuilder::data, 16, desc_flag_next, 1});
    ring.memory.write_object(table + 16,
                             Descriptor{RingBuilder::data + 64, 100, desc_flag_write, 0});

    SECTION("a valid table") {
        auto queue = make_queue(ring);
        ring.set_desc(0, table, 32, desc_flag_indirect);
        ring.publish(0);
        auto chain = queue.pop();
        REQUIRE(chain);
        CHECK(chain->malformed.empty());
        CHECK(chain->readable_bytes() == 16);
        CHECK(chain->writable_bytes() == 100);
    }
    SECTION("without the feature") {
        auto queue = make_queue(ring, IndirectDescriptors::off);
        ring.set_desc(0, table, 32, desc_flag_indirect);
        ring.publish(0);
        CHECK_THROWS_AS(queue.pop(), QueueViolation);
    }
    SECTION("nested") {
        auto queue = make_queue(ring);
        ring.memory.write_object(table + 16, Descriptor{table, 32, desc_flag_indirect, 0});
        ring.set_desc(0, table, 32, desc_flag_indirect);
        ring.publish(0);
        CHECK_THROWS_AS(queue.pop(), QueueViolation);
    }
    SECTION("outside RAM") {
        auto queue = make_queue(ring);
        ring.set_desc(0, RingBuilder::ram_size - 16, 32, desc_flag_indirect);
        ring.publish(0);
        CHECK_THROWS_AS(queue.pop(), QueueViolation);
    }
    SECTION("length not a whole number of descriptors, or zero") {
        auto queue = make_queue(ring);
        ring.set_desc(0, table, 24, desc_flag_indirect);
        ring.publish(0);
        CHECK_THROWS_AS(queue.pop(), QueueViolation);
        RingBuilder ring2;
        auto queue2 = make_queue(ring2);
        ring2.set_desc(0, table, 0, desc_flag_indirect);
        ring2.publish(0);
        CHECK_THROWS_AS(queue2.pop(), QueueViolation);
    }
    SECTION("huge") {
        auto queue = make_queue(ring);
        ring.set_desc(0, 0, 0xfffffff0, desc_flag_indirect);
        ring.publish(0);
        CHECK_THROWS_AS(queue.pop(), QueueViolation);
    }
    SECTION("with NEXT") {
        auto queue = make_queue(ring);
        ring.set_desc(0, table, 32, desc_flag_indirect | desc_flag_next, 1);
        ring.publish(0);
        CHECK_THROWS_AS(queue.pop(), QueueViolation);
    }
    SECTION("a loop inside the table") {
        auto queue = make_queue(ring);
        ring.memory.write_object(table + 16, Descriptor{RingBuilder::data, 16, desc_flag_next, 0});
        ring.set_desc(0, table, 32, desc_flag_indirect);
        ring.publish(0);
        CHECK_THROWS_AS(queue.pop(), QueueViolation);
    }
    SECTION("next outside the table") {
        auto queue = make_queue(ring);
        ring.memory.write_object(table + 16, Descriptor{RingBuilder::data, 16, desc_flag_next, 2});
        ring.set_desc(0, table, 32, desc_flag_indirect);
        ring.publish(0);
        CHECK_THROWS_AS(queue.pop(), QueueViolation);
    }
}

TEST_CASE("queue layouts the device cannot use are refused", "[virtio][queue]") {
    RingBuilder ring;
    auto make = [&](QueueLayout layout) {
        return SplitQueue(ring.memory, layout, EventIdx::off, IndirectDescriptors::off);
    };
    CHECK_THROWS_AS(make({0, 0x1000, 0x2000, 0x3000}), QueueViolation);
    CHECK_THROWS_AS(make({6, 0x1000, 0x2000, 0x3000}), QueueViolation);
    CHECK_THROWS_AS(make({8, 0x1008, 0x2000, 0x3000}), QueueViolation);  // misaligned table
    CHECK_THROWS_AS(make({8, 0x1000, 0x2001, 0x3000}), QueueViolation);
    CHECK_THROWS_AS(make({8, 0x1000, 0x2000, 0x3002}), QueueViolation);
    CHECK_THROWS_AS(make({8, RingBuilder::ram_size - 64, 0x2000, 0x3000}), QueueViolation);
    CHECK_THROWS_AS(make({8, 0x1000, 0x2000, 0xfffffffffffff000ULL}), QueueViolation);
    CHECK_NOTHROW(make({8, 0x1000, 0x2000, 0x3000}));
}

TEST_CASE("interrupt suppression: NO_INTERRUPT flag and EVENT_IDX", "[virtio][queue]") {
    SECTION("flags") {
        RingBuilder ring;
        auto queue = make_queue(ring, IndirectDescriptors::off, EventIdx::off);
        CHECK_FALSE(queue.should_interrupt());  // nothing used yet
        queue.push_used(0, 0);
        CHECK(queue.should_interrupt());
        ring.memory.write_object<std::uint16_t>(RingBuilder::avail, avail_flag_no_interrupt);
        queue.push_used(0, 0);
        CHECK_FALSE(queue.should_interrupt());
    }
    SECTION("event idx") {
        RingBuilder ring;
        auto queue = make_queue(ring, IndirectDescriptors::off, EventIdx::on);
        ring.set_used_event(1);  // interrupt when used idx passes 1 (i.e. reaches 2)
        queue.push_used(0, 0);
        CHECK_FALSE(queue.should_interrupt());
        queue.push_used(0, 0);
        CHECK(queue.should_interrupt());
        ring.set_desc(0, RingBuilder::data, 16);
        ring.publish(0);
        REQUIRE(queue.pop());
        // No notification asked for while the device works; then for the next buffer.
        CHECK(ring.avail_event() == 0);
        CHECK_FALSE(queue.enable_notifications());
        CHECK(ring.avail_event() == 1);
        ring.publish(0);
        CHECK(queue.enable_notifications());
    }
}

TEST_CASE("a queue made again at a saved position shows the driver the used index it saw",
          "[virtio][queue][snapshot]") {
    // A restore makes each queue anew (the constructor publishes used idx 0, a fresh
    // queue's rule) and then sets the saved position: the used index must be back at
    // the saved one before the driver looks, or it takes stale entries for completions.
    RingBuilder ring;
    auto queue = make_queue(ring);
    for (std::uint16_t head = 0; head < 3; ++head) {
        ring.set_desc(head, RingBuilder::data + 0x100ULL * head, 16);
        ring.publish(head);
        auto chain = queue.pop();
        REQUIRE(chain);
        queue.push_used(chain->head, 0);
    }
    const SplitQueue::Position saved = queue.position();
    REQUIRE(ring.used_idx() == 3);

    auto restored = make_queue(ring);
    CHECK(ring.used_idx() == 0);  // the constructor's rule
    restored.set_position(saved);
    CHECK(ring.used_idx() == 3);
    CHECK_FALSE(restored.pop());  // nothing new: the three are not served twice
    ring.set_desc(3, RingBuilder::data + 0x300, 16);
    ring.publish(3);
    auto chain = restored.pop();
    REQUIRE(chain);
    CHECK(chain->head == 3);
    restored.push_used(chain->head, 0);
    CHECK(ring.used_idx() == 4);
    CHECK(ring.used_element(3).id == 3);
}
