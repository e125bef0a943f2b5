/* The attacks on one virtio device. Each case starts from a reset, does one wrong thing
   (or a random mix of them), and checks what the device did against what virtio 1.2
   and berth's documentation say: a ring that cannot be trusted puts the device in
   DEVICE_NEEDS_RESET (2.1.1), a request that is wrong only for the device comes back in
   the used ring, features never offered are refused at FEATURES_OK (3.1.1). */
#include "hostile.h"

#define DESCRIPTORS ((volatile struct descriptor*)RING_DESCRIPTORS)
#define TABLE ((volatile struct descriptor*)INDIRECT)
#define ZEROES 0x00600000u /* 1 MiB kept zero: rings the random writes point at */
#define ZEROES_SIZE 0x00100000u

#define EXPECT(outcome) (1u << (outcome))
#define ANY                                                                         \
    (EXPECT(OUTCOME_NEEDS_RESET) | EXPECT(OUTCOME_USED) | EXPECT(OUTCOME_REFUSED) | \
     EXPECT(OUTCOME_QUIET))
#define SLOW_MS 5000 /* the longest a device may take to answer, in the emulated rig too */
#define QUIET_MS 200 /* how long "nothing happens" is watched */

uint32_t ram_end;
uint32_t feeding_ring = 1;

static const char* outcome_name(enum outcome outcome) {
    switch (outcome) {
        case OUTCOME_NEEDS_RESET:
            return "needs-reset";
        case OUTCOME_USED:
            return "used";
        case OUTCOME_REFUSED:
            return "refused";
        default:
            return "quiet";
    }
}

static void record(struct virtio* device, const char* name, enum outcome got, uint32_t expected) {
    ++device->cases;
    switch (got) {
        case OUTCOME_NEEDS_RESET:
            ++device->needs_reset;
            break;
        case OUTCOME_USED:
            ++device->used;
            break;
        case OUTCOME_REFUSED:
            ++device->refused;
            break;
        default:
            ++device->quiet;
            break;
    }
    if ((expected & EXPECT(got)) == 0) {
        ++device->failed;
        print("hostile: FAIL ");
        print(device->name);
        print(" case '");
        print(name);
        print("': ");
        print(outcome_name(got));
        print("\n");
    }
}

static uint16_t used_idx(void) {
    return read16(RING_USED + 2);
}

/* Watches the device until it sets NEEDS_RESET or returns a buffer, for `ms`. */
static enum outcome watch(const struct virtio* device, uint32_t ms) {
    const uint32_t start = now_ms();
    do {
        barrier();
        if ((virtio_status(device) & STATUS_NEEDS_RESET) != 0) {
            return OUTCOME_NEEDS_RESET;
        }
        if (used_idx() != 0) {
            return OUTCOME_USED;
        }
    } while (now_ms() - start < ms);
    return OUTCOME_QUIET;
}

/* The same, for a case whose ring already returned a buffer. */
static enum outcome watch_needs_reset(const struct virtio* device) {
    const uint32_t start = now_ms();
    do {
        if ((virtio_status(device) & STATUS_NEEDS_RESET) != 0) {
            return OUTCOME_NEEDS_RESET;
        }
    } while (now_ms() - start < SLOW_MS);
    return OUTCOME_QUIET;
}

static void set_descriptor(volatile struct descriptor* table, uint32_t index, uint64_t address,
                           uint32_t length, uint16_t flags, uint16_t next) {
    table[index].address = address;
    table[index].length = length;
    table[index].flags = flags;
    table[index].next = next;
}

static void clear_rings(void) {
    fill((void*)RING_DESCRIPTORS, 0, 0x3000);
    fill((void*)BUFFERS, 0, 0x10000);
}

/* Reset, features, the test queue at the usual place with `size` entries, DRIVER_OK.
   Returns 0 (and records a failure) when the device refuses a correct setup. */
static int start(struct virtio* device, uint32_t low, uint32_t high, uint16_t size) {
    if (!virtio_reset(device)) {
        record(device, "reset reads back 0", OUTCOME_QUIET, 0);
        return 0;
    }
    clear_rings();
    if ((virtio_negotiate(device, low, high) & STATUS_FEATURES_OK) == 0) {
        record(device, "offered features accepted", OUTCOME_REFUSED, 0);
        return 0;
    }
    virtio_queue_setup(device, device->test_queue, size, RING_DESCRIPTORS, RING_AVAIL, RING_USED);
    virtio_queue_enable(device, device->test_queue);
    virtio_set_status(device,
                      STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);
    return 1;
}

static void publish(const struct virtio* device, uint16_t index) {
    barrier();
    write16(RING_AVAIL + 2, index);
    virtio_kick(device, device->test_queue);
}

/* A ring's worth of wrongness: `build` fills the descriptors and the available ring
   and returns the available index to publish. */
struct ring_case {
    const char* name;
    uint32_t features_low; /* on top of VERSION_1 */
    uint16_t (*build)(void);
    uint32_t expected;
    int (*check)(void); /* what the device must have left alone, if anything */
};

static void head(uint32_t slot, uint16_t descriptor) {
    write16(RING_AVAIL + 4 + 2 * slot, descriptor);
}

static uint16_t loop_of_two(void) {
    set_descriptor(DESCRIPTORS, 0, BUFFERS, 16, DESC_NEXT, 1);
    set_descriptor(DESCRIPTORS, 1, BUFFERS, 16, DESC_NEXT, 0);
    return 1;
}
static uint16_t loop_of_one(void) {
    set_descriptor(DESCRIPTORS, 0, BUFFERS, 16, DESC_NEXT | DESC_WRITE, 0);
    return 1;
}
static uint16_t head_out_of_range(void) {
    head(0, RING_SIZE);
    return 1;
}
static uint16_t head_all_ones(void) {
    head(0, 0xffff);
    return 1;
}
static uint16_t next_out_of_range(void) {
    set_descriptor(DESCRIPTORS, 0, BUFFERS, 16, DESC_NEXT, RING_SIZE);
    return 1;
}
static uint16_t next_all_ones(void) {
    set_descriptor(DESCRIPTORS, 0, BUFFERS, 16, DESC_NEXT, 0xffff);
    return 1;
}
static uint16_t avail_jump(void) {
    set_descriptor(DESCRIPTORS, 0, BUFFERS, 1, DESC_WRITE, 0);
    return RING_SIZE + 1;
}
static uint16_t avail_half_way(void) {
    set_descriptor(DESCRIPTORS, 0, BUFFERS, 1, DESC_WRITE, 0);
    return 0x8000;
}
static uint16_t indirect(uint64_t address, uint32_t length, uint16_t flags) {
    set_descriptor(DESCRIPTORS, 0, address, length, DESC_INDIRECT | flags, 1);
    set_descriptor(DESCRIPTORS, 1, BUFFERS, 1, DESC_WRITE, 0);
    return 1;
}
static uint16_t nested_indirect(void) {
    set_descriptor(TABLE, 0, INDIRECT + 0x100, 16, DESC_INDIRECT, 0);
    set_descriptor(TABLE, 16, BUFFERS, 1, DESC_WRITE, 0);
    return indirect(INDIRECT, 32, 0);
}
static uint16_t indirect_with_next(void) {
    set_descriptor(TABLE, 0, BUFFERS, 1, DESC_WRITE, 0);
    return indirect(INDIRECT, 16, DESC_NEXT);
}
static uint16_t indirect_empty(void) {
    return indirect(INDIRECT, 0, 0);
}
static uint16_t indirect_odd_length(void) {
    return indirect(INDIRECT, 17, 0);
}
static uint16_t indirect_outside_ram(void) {
    return indirect(0xf0000000u, 64, 0);
}
static uint16_t indirect_across_ram_end(void) {
    return indirect(ram_end - 16, 32, 0);
}
static uint16_t indirect_at_the_top(void) {
    return indirect(0xfffffffffffffff0ull, 32, 0);
}
static uint16_t indirect_misaligned(void) {
    set_descriptor(TABLE, 1, BUFFERS, 1, DESC_WRITE, 0);
    return indirect(INDIRECT + 8, 16, 0);
}
static uint16_t indirect_too_long(void) {
    return indirect(INDIRECT, 32769 * 16, 0);
}
static uint16_t loop_in_indirect(void) {
    set_descriptor(TABLE, 0, BUFFERS, 1, DESC_NEXT | DESC_WRITE, 1);
    set_descriptor(TABLE, 1, BUFFERS, 1, DESC_NEXT | DESC_WRITE, 0);
    return indirect(INDIRECT, 32, 0);
}
static uint16_t indirect_is_the_ring(void) {
    return indirect(RING_DESCRIPTORS, 16 * RING_SIZE, 0);
}
static uint16_t zero_length_buffers(void) {
    for (uint32_t i = 0; i < RING_SIZE; ++i) {
        set_descriptor(DESCRIPTORS, i, BUFFERS + 16 * i, 0,
                       (uint16_t)((i + 1 < RING_SIZE ? DESC_NEXT : 0) | (i >= 4 ? DESC_WRITE : 0)),
                       (uint16_t)(i + 1));
    }
    return 1;
}
static uint16_t zero_length_status(void) {
    /* virtio-blk's status byte is the last byte of the last writable buffer: here the
       last writable buffer has no bytes. */
    set_descriptor(DESCRIPTORS, 0, BUFFERS, 16, DESC_NEXT, 1);
    set_descriptor(DESCRIPTORS, 1, BUFFERS + 0x100, 512, DESC_NEXT | DESC_WRITE, 2);
    set_descriptor(DESCRIPTORS, 2, BUFFERS + 0x1000, 0, DESC_WRITE, 0);
    write32(BUFFERS, 8);           /* a GET_ID request, for the block device */
    write8(BUFFERS + 0xfff, 0xaa); /* the byte before the empty buffer: no buffer's */
    return 1;
}
static int outside_untouched(void) {
    return read8(BUFFERS + 0xfff) == 0xaa;
}
static uint16_t buffer_outside_ram(void) {
    set_descriptor(DESCRIPTORS, 0, 0xf0000000u, 4096, DESC_NEXT, 1);
    set_descriptor(DESCRIPTORS, 1, BUFFERS, 1, DESC_WRITE, 0);
    return 1;
}
static uint16_t buffer_wraps(void) {
    set_descriptor(DESCRIPTORS, 0, 0xfffffffffffff000ull, 0x2000, DESC_WRITE, 0);
    return 1;
}
static uint16_t buffer_4gib(void) {
    set_descriptor(DESCRIPTORS, 0, BUFFERS, 0xffffffffu, DESC_WRITE, 0);
    return 1;
}
static uint16_t buffer_across_ram_end(void) {
    set_descriptor(DESCRIPTORS, 0, ram_end - 8, 16, DESC_WRITE, 0);
    return 1;
}
static uint16_t readable_after_writable(void) {
    set_descriptor(DESCRIPTORS, 0, BUFFERS, 16, DESC_NEXT | DESC_WRITE, 1);
    set_descriptor(DESCRIPTORS, 1, BUFFERS + 16, 16, 0, 0);
    return 1;
}
static uint16_t whole_queue_chain(void) {
    for (uint32_t i = 0; i < RING_SIZE; ++i) {
        set_descriptor(DESCRIPTORS, i, BUFFERS + i, 1,
                       (uint16_t)(DESC_WRITE | (i + 1 < RING_SIZE ? DESC_NEXT : 0)),
                       (uint16_t)(i + 1));
    }
    return 1;
}
static uint16_t long_indirect_chain(uint32_t count) {
    for (uint32_t i = 0; i < count; ++i) {
        set_descriptor(TABLE, i, BUFFERS + (i & 0xfff), 1,
                       (uint16_t)(DESC_WRITE | (i + 1 < count ? DESC_NEXT : 0)), (uint16_t)(i + 1));
    }
    return indirect(INDIRECT, count * 16, 0);
}
static uint16_t indirect_chain_4096(void) {
    return long_indirect_chain(4096);
}
static uint16_t indirect_chain_32768(void) {
    return long_indirect_chain(32768);
}
static uint16_t same_head_everywhere(void) {
    set_descriptor(DESCRIPTORS, 0, BUFFERS, 1, DESC_WRITE, 0);
    return RING_SIZE;
}

#define NEEDS_RESET EXPECT(OUTCOME_NEEDS_RESET)
#define USED EXPECT(OUTCOME_USED)
static const struct ring_case ring_cases[] = {
    {"descriptor loop of two", 0, loop_of_two, NEEDS_RESET, 0},
    {"descriptor loop of one", 0, loop_of_one, NEEDS_RESET, 0},
    {"head out of range", 0, head_out_of_range, NEEDS_RESET, 0},
    {"head 0xffff", 0, head_all_ones, NEEDS_RESET, 0},
    {"next out of range", 0, next_out_of_range, NEEDS_RESET, 0},
    {"next 0xffff", 0, next_all_ones, NEEDS_RESET, 0},
    {"available index a queue and one ahead", 0, avail_jump, NEEDS_RESET, 0},
    {"available index 0x8000 ahead", 0, avail_half_way, NEEDS_RESET, 0},
    {"indirect table in an indirect table", FEATURE_INDIRECT_DESC, nested_indirect, NEEDS_RESET, 0},
    {"indirect descriptor with NEXT", FEATURE_INDIRECT_DESC, indirect_with_next, NEEDS_RESET, 0},
    {"indirect table of 0 bytes", FEATURE_INDIRECT_DESC, indirect_empty, NEEDS_RESET, 0},
    {"indirect table of 17 bytes", FEATURE_INDIRECT_DESC, indirect_odd_length, NEEDS_RESET, 0},
    {"indirect table outside RAM", FEATURE_INDIRECT_DESC, indirect_outside_ram, NEEDS_RESET, 0},
    {"indirect table across RAM's end", FEATURE_INDIRECT_DESC, indirect_across_ram_end, NEEDS_RESET,
     0},
    {"indirect table at 2^64-16", FEATURE_INDIRECT_DESC, indirect_at_the_top, NEEDS_RESET, 0},
    {"indirect table misaligned", FEATURE_INDIRECT_DESC, indirect_misaligned, NEEDS_RESET, 0},
    {"indirect table of 32769 descriptors", FEATURE_INDIRECT_DESC, indirect_too_long, NEEDS_RESET,
     0},
    {"descriptor loop in an indirect table", FEATURE_INDIRECT_DESC, loop_in_indirect, NEEDS_RESET,
     0},
    {"indirect table that is the ring", FEATURE_INDIRECT_DESC, indirect_is_the_ring, NEEDS_RESET,
     0},
    {"indirect descriptor never negotiated", 0, indirect_with_next, NEEDS_RESET, 0},
    {"zero-length buffers", 0, zero_length_buffers, USED, 0},
    {"zero-length last writable buffer", 0, zero_length_status, USED, outside_untouched},
    {"buffer outside RAM", 0, buffer_outside_ram, USED, 0},
    {"buffer wrapping 2^64", 0, buffer_wraps, USED, 0},
    {"buffer of 4 GiB - 1", 0, buffer_4gib, USED, 0},
    {"buffer across RAM's end", 0, buffer_across_ram_end, USED, 0},
    {"readable buffer after a writable one", 0, readable_after_writable, USED, 0},
    {"chain as long as the queue", 0, whole_queue_chain, USED, 0},
    {"indirect chain of 4096", FEATURE_INDIRECT_DESC, indirect_chain_4096, USED, 0},
    {"indirect chain of 32768", FEATURE_INDIRECT_DESC, indirect_chain_32768, USED, 0},
    {"one descriptor in every slot", 0, same_head_everywhere, USED, 0},
};

static void run_ring_cases(struct virtio* device) {
    for (unsigned i = 0; i < sizeof ring_cases / sizeof ring_cases[0]; ++i) {
        const struct ring_case* c = &ring_cases[i];
        if (!start(device, c->features_low, FEATURE_HIGH_VERSION_1, RING_SIZE)) {
            continue;
        }
        publish(device, c->build());
        const enum outcome got = watch(device, SLOW_MS);
        record(device, c->name, got, c->expected);
        if (c->check != 0 && !c->check()) {
            ++device->failed;
            print("hostile: FAIL ");
            print(device->name);
            print(" case '");
            print(c->name);
            print("': wrote outside the chain's buffers\n");
        }
    }
}

/* --- queue setups a device must refuse at queue_enable ---------------------------- */
struct setup_case {
    const char* name;
    uint16_t size;
    uint64_t descriptors, driver_area, device_area;
};

static void run_setup_cases(struct virtio* device) {
    const struct setup_case cases[] = {
        {"queue size 0", 0, RING_DESCRIPTORS, RING_AVAIL, RING_USED},
        {"queue size 3", 3, RING_DESCRIPTORS, RING_AVAIL, RING_USED},
        {"queue size 0xffff", 0xffff, RING_DESCRIPTORS, RING_AVAIL, RING_USED},
        {"queue size 0x8000", 0x8000, RING_DESCRIPTORS, RING_AVAIL, RING_USED},
        {"queue size 512, over the maximum", 512, RING_DESCRIPTORS, RING_AVAIL, RING_USED},
        {"descriptor table outside RAM", 8, 0xf0000000u, RING_AVAIL, RING_USED},
        {"descriptor table at 2^64-16", 8, 0xfffffffffffffff0ull, RING_AVAIL, RING_USED},
        {"available ring above 4 GiB", 8, RING_DESCRIPTORS, 0x100000000ull, RING_USED},
        {"used ring across RAM's end", 8, RING_DESCRIPTORS, RING_AVAIL, ram_end - 16},
        {"descriptor table misaligned", 8, RING_DESCRIPTORS + 8, RING_AVAIL, RING_USED},
        {"available ring misaligned", 8, RING_DESCRIPTORS, RING_AVAIL + 1, RING_USED},
        {"used ring misaligned", 8, RING_DESCRIPTORS, RING_AVAIL, RING_USED + 2},
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        const struct setup_case* c = &cases[i];
        virtio_reset(device);
        clear_rings();
        virtio_negotiate(device, 0, FEATURE_HIGH_VERSION_1);
        virtio_queue_setup(device, device->test_queue, c->size, c->descriptors, c->driver_area,
                           c->device_area);
        virtio_queue_enable(device, device->test_queue);
        record(device, c->name, watch(device, SLOW_MS), NEEDS_RESET);
    }
    /* Three rings on one address: legal enough to enable; whatever the device makes of
       it, it must answer or give up, and the guest must still be able to reset it. */
    virtio_reset(device);
    clear_rings();
    virtio_negotiate(device, 0, FEATURE_HIGH_VERSION_1);
    virtio_queue_setup(device, device->test_queue, RING_SIZE, RING_USED, RING_USED, RING_USED);
    virtio_queue_enable(device, device->test_queue);
    virtio_set_status(device, 15);
    write16(RING_USED + 2, 1);
    virtio_kick(device, device->test_queue);
    record(device, "three rings on one address", watch(device, QUIET_MS), ANY);
}

/* --- the status register and feature negotiation out of order ---------------------- */
static void valid_request(void) {
    set_descriptor(DESCRIPTORS, 0, BUFFERS, 16, DESC_WRITE, 0);
    head(0, 0);
}

static void run_protocol_cases(struct virtio* device) {
    const uint32_t c = device->common;
    /* queue_enable before FEATURES_OK. */
    virtio_reset(device);
    clear_rings();
    virtio_set_status(device, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    virtio_queue_setup(device, device->test_queue, RING_SIZE, RING_DESCRIPTORS, RING_AVAIL,
                       RING_USED);
    virtio_queue_enable(device, device->test_queue);
    record(device, "queue enabled before FEATURES_OK", watch(device, SLOW_MS), NEEDS_RESET);

    /* Every feature bit, including those never offered, and selects past the two words. */
    virtio_reset(device);
    virtio_set_status(device, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    const uint32_t selects[] = {0, 1, 2, 0xffffffffu};
    for (unsigned i = 0; i < 4; ++i) {
        write32(c + COMMON_DRIVER_FEATURE_SELECT, selects[i]);
        write32(c + COMMON_DRIVER_FEATURE, 0xffffffffu);
        write32(c + COMMON_DEVICE_FEATURE_SELECT, selects[i]);
        (void)read32(c + COMMON_DEVICE_FEATURE);
    }
    virtio_set_status(device, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
    record(device, "features never offered",
           (virtio_status(device) & STATUS_FEATURES_OK) ? OUTCOME_USED : OUTCOME_REFUSED,
           EXPECT(OUTCOME_REFUSED));

    /* A legacy driver: no VERSION_1. */
    virtio_reset(device);
    record(device, "no VERSION_1",
           (virtio_negotiate(device, device->offered_low, 0) & STATUS_FEATURES_OK)
               ? OUTCOME_USED
               : OUTCOME_REFUSED,
           EXPECT(OUTCOME_REFUSED));

    /* DRIVER_OK first, FEATURES_OK after, then a request: the device may serve it or
       not, but must not hang or die. */
    virtio_reset(device);
    clear_rings();
    virtio_set_status(device, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_DRIVER_OK);
    write32(c + COMMON_DRIVER_FEATURE_SELECT, 1);
    write32(c + COMMON_DRIVER_FEATURE, FEATURE_HIGH_VERSION_1);
    virtio_set_status(device,
                      STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_DRIVER_OK | STATUS_FEATURES_OK);
    virtio_queue_setup(device, device->test_queue, RING_SIZE, RING_DESCRIPTORS, RING_AVAIL,
                       RING_USED);
    virtio_queue_enable(device, device->test_queue);
    valid_request();
    publish(device, 1);
    record(device, "DRIVER_OK before FEATURES_OK", watch(device, QUIET_MS), ANY);

    /* The driver sets NEEDS_RESET and FAILED itself, clears bits, sets them again. */
    if (start(device, 0, FEATURE_HIGH_VERSION_1, RING_SIZE)) {
        const uint8_t writes[] = {0x4f, 0xff, 0x01, 0x8f, 0x0f, 0x04, 0x40};
        for (unsigned i = 0; i < sizeof writes; ++i) {
            virtio_set_status(device, writes[i]);
        }
        valid_request();
        publish(device, 1);
        record(device, "status bits cleared and set by the driver", watch(device, QUIET_MS), ANY);
    }

    /* queue_select past the last queue: its fields read 0 and take no writes. */
    virtio_reset(device);
    clear_rings();
    virtio_negotiate(device, 0, FEATURE_HIGH_VERSION_1);
    const uint16_t bad_queues[] = {device->queues, 0x8000, 0xffff};
    uint32_t nonzero = 0;
    for (unsigned i = 0; i < 3; ++i) {
        virtio_queue_setup(device, bad_queues[i], 8, RING_DESCRIPTORS, RING_AVAIL, RING_USED);
        write16(c + COMMON_QUEUE_MSIX_VECTOR, 0);
        write16(c + COMMON_QUEUE_ENABLE, 1);
        nonzero |= read16(c + COMMON_QUEUE_SIZE) | read16(c + COMMON_QUEUE_ENABLE);
        write16(device->notify + bad_queues[i] * device->notify_multiplier, bad_queues[i]);
    }
    record(device, "queue_select past the last queue",
           nonzero != 0 ? OUTCOME_USED : watch(device, QUIET_MS), EXPECT(OUTCOME_QUIET));

    /* A queue reset (VIRTIO_F_RING_RESET) while the device runs, then the queue again. */
    if ((device->offered_high & FEATURE_HIGH_RING_RESET) != 0 &&
        start(device, 0, FEATURE_HIGH_VERSION_1 | FEATURE_HIGH_RING_RESET, RING_SIZE)) {
        write16(c + COMMON_QUEUE_SELECT, device->test_queue);
        write16(c + COMMON_QUEUE_RESET, 1);
        const uint16_t enabled = read16(c + COMMON_QUEUE_ENABLE);
        clear_rings();
        virtio_queue_setup(device, device->test_queue, RING_SIZE, RING_DESCRIPTORS, RING_AVAIL,
                           RING_USED);
        virtio_queue_enable(device, device->test_queue);
        valid_request();
        publish(device, 1);
        record(device, "queue reset while running",
               enabled != 0 ? OUTCOME_QUIET : watch(device, SLOW_MS), USED);
    }

    /* A reset with a request in flight, and a second reset straight after. */
    if (start(device, 0, FEATURE_HIGH_VERSION_1, RING_SIZE)) {
        valid_request();
        publish(device, 1);
        virtio_set_status(device, 0);
        record(device, "reset with a request in flight",
               virtio_reset(device) ? OUTCOME_REFUSED : OUTCOME_QUIET, EXPECT(OUTCOME_REFUSED));
    }
}

/* --- random writes all over the device ---------------------------------------------- */
/* A queue address the random writes may use: outside RAM, or in the area kept zero
   (so that a ring the device accepts there holds nothing, and every buffer it writes
   lies in that area). Never the program's own memory. */
static uint32_t safe_ring_address(void) {
    return random_below(2) ? (boundary32() | 0x80000000u)
                           : ZEROES + (random_below(ZEROES_SIZE / 2) & ~0xfu);
}

static void random_common_write(const struct virtio* device) {
    const uint32_t fields[] = {COMMON_DEVICE_FEATURE_SELECT,
                               COMMON_DRIVER_FEATURE_SELECT,
                               COMMON_DRIVER_FEATURE,
                               COMMON_CONFIG_MSIX_VECTOR,
                               COMMON_STATUS,
                               COMMON_QUEUE_SELECT,
                               COMMON_QUEUE_SIZE,
                               COMMON_QUEUE_MSIX_VECTOR,
                               COMMON_QUEUE_ENABLE,
                               COMMON_QUEUE_NOTIFY_OFF,
                               COMMON_QUEUE_DESC,
                               COMMON_QUEUE_DESC + 4,
                               COMMON_QUEUE_DRIVER,
                               COMMON_QUEUE_DRIVER + 4,
                               COMMON_QUEUE_DEVICE,
                               COMMON_QUEUE_DEVICE + 4,
                               COMMON_QUEUE_RESET,
                               0x3c,
                               0x40,
                               0xffc};
    const uint32_t field = fields[random_below(sizeof fields / sizeof fields[0])];
    uint32_t value = boundary32();
    if (field == COMMON_QUEUE_DESC || field == COMMON_QUEUE_DRIVER ||
        field == COMMON_QUEUE_DEVICE) {
        value = safe_ring_address();
    } else if (field == COMMON_QUEUE_DESC + 4 || field == COMMON_QUEUE_DRIVER + 4 ||
               field == COMMON_QUEUE_DEVICE + 4) {
        value = random_below(2) ? 0 : value;
    } else if (field == COMMON_QUEUE_SELECT) {
        value = random_below(device->queues + 2u);
    }
    const uint32_t at = device->common + field + random_below(4) * (random_below(4) == 0);
    switch (random_below(4)) {
        case 0:
            write8(at, (uint8_t)value);
            break;
        case 1:
            write16(at, (uint16_t)value);
            break;
        default:
            /* The queue address fields take 32-bit halves: a wrong width there is
               ignored, so give them the right one most often. */
            write32(at, value);
            break;
    }
}

static void random_bar_access(const struct virtio* device) {
    /* Anywhere in BAR 0 but the MSI-X table: a random message there could ask for an
       NMI or INIT, which would end this guest, not test berth. */
    uint32_t offset = random_below(0x8000);
    if (offset >= 0x4000 && offset < 0x6000) {
        offset -= 0x2000;
    }
    const uint32_t at = device->bar + offset;
    switch (random_below(6)) {
        case 0:
            (void)read8(at);
            break;
        case 1:
            (void)read16(at & ~1u);
            break;
        case 2:
            (void)read32(at & ~3u);
            break;
        case 3:
            write8(at, (uint8_t)random32());
            break;
        case 4:
            write16(at & ~1u, (uint16_t)random32());
            break;
        default:
            /* Not the common configuration's queue addresses: random_common_write
               chooses those. */
            if (offset >= 0x40) {
                write32(at & ~3u, boundary32());
            }
            break;
    }
}

static void run_random_writes(struct virtio* device, uint32_t count) {
    fill((void*)ZEROES, 0, ZEROES_SIZE);
    /* A reset leaves every ring address 0, and a random write may enable a queue
       there: the real-mode interrupt table (unused in protected mode) must hold no
       available index. */
    fill((void*)0, 0, 0x400);
    for (uint32_t i = 0; i < count; ++i) {
        if (random_below(3) == 0) {
            random_bar_access(device);
        } else {
            random_common_write(device);
        }
    }
    record(device, "random register writes", virtio_reset(device) ? OUTCOME_REFUSED : OUTCOME_QUIET,
           EXPECT(OUTCOME_REFUSED));
    fill((void*)ZEROES, 0, ZEROES_SIZE);
}

/* --- random rings -------------------------------------------------------------------- */
static uint64_t random_buffer_address(void) {
    switch (random_below(6)) {
        case 0:
            return (uint64_t)(boundary32() | 1) << 32 | boundary32(); /* above 4 GiB */
        case 1:
            return ram_end - random_below(64);
        case 2:
            return 0xf0000000u + random_below(0x1000);
        default:
            return BUFFERS + random_below(0x8000);
    }
}

static uint32_t random_length(void) {
    const uint32_t lengths[] = {0, 1, 15, 16, 17, 512, 4096, 0x7fffffffu, 0xffffffffu};
    return random_below(3) == 0 ? random_below(0x2000)
                                : lengths[random_below(sizeof lengths / sizeof lengths[0])];
}

static void random_descriptors(volatile struct descriptor* table, uint32_t count, uint32_t size) {
    for (uint32_t i = 0; i < count; ++i) {
        uint64_t address = random_buffer_address();
        uint32_t length = random_length();
        const uint16_t flags = (uint16_t)(random32() & (random_below(4) ? 3 : 7));
        if ((flags & DESC_INDIRECT) != 0 && random_below(2)) {
            /* An indirect table the case wrote: random descriptors too. */
            address = INDIRECT + 16 * random_below(64);
            length = 16 * (1 + random_below(32));
        }
        const uint16_t next = (uint16_t)(random_below(8) ? random_below(size) : random32());
        set_descriptor(table, i, address, length, flags, next);
    }
}

static void run_random_rings(struct virtio* device, uint32_t rounds) {
    for (uint32_t round = 0; round < rounds; ++round) {
        const uint16_t size = (uint16_t)(1u << random_below(9)); /* 1..256 */
        uint32_t low = 0;
        if (random_below(2)) {
            low |= FEATURE_INDIRECT_DESC;
        }
        if (random_below(2)) {
            low |= FEATURE_EVENT_IDX;
        }
        if (!start(device, low & device->offered_low, FEATURE_HIGH_VERSION_1, size)) {
            continue;
        }
        random_descriptors(DESCRIPTORS, size, size);
        random_descriptors(TABLE, 64 + 32, 64);
        /* A random (little-endian) blk header at the start of the buffers, sometimes. */
        write32(BUFFERS, random_below(16));
        write32(BUFFERS + 8, boundary32());
        const uint16_t published = (uint16_t)random_below(size + 3u);
        for (uint32_t slot = 0; slot < size; ++slot) {
            head(slot, (uint16_t)(random_below(16) ? random_below(size) : random32()));
        }
        write16(RING_AVAIL, (uint16_t)random_below(2));           /* NO_INTERRUPT, or not */
        write16(RING_AVAIL + 4 + 2 * size, (uint16_t)random32()); /* used_event */
        publish(device, published);
        uint32_t expected = ANY;
        if (published > size) {
            expected = NEEDS_RESET;
        } else if (published > 0) {
            expected = NEEDS_RESET | USED;
        }
        record(device, "random ring", watch(device, published == 0 ? QUIET_MS : SLOW_MS), expected);
    }
}

/* --- MSI-X: vectors programmed, moved and masked while requests complete ------------ */
static void run_msix(struct virtio* device) {
    const uint32_t a = device->pci.address;
    uint32_t msix = 0;
    int hops = 0;
    for (uint32_t at = cfg_read(a, 0x34, 1) & 0xfc; at != 0 && hops < 48;
         at = cfg_read(a, at + 1, 1) & 0xfc, ++hops) {
        if (cfg_read(a, at, 1) == 0x11) {
            msix = at;
        }
    }
    if (msix == 0) {
        return;
    }
    const uint32_t table = device->bar + (cfg_read(a, msix + 4, 4) & ~7u);
    const uint32_t vectors = (cfg_read(a, msix + 2, 2) & 0x7ff) + 1;
    cfg_write(a, msix + 2, 2, 0x8000); /* enable */
    for (uint32_t round = 0; round < 4; ++round) {
        /* Fixed delivery to any APIC ID, vector 0x20-0xef: with interrupts off in this
           guest it only stays pending in the local APIC. */
        for (uint32_t v = 0; v < vectors + 1; ++v) {
            write32(table + 16 * v, 0xfee00000u | (random_below(256) << 12));
            write32(table + 16 * v + 4, random_below(4) == 0 ? boundary32() : 0);
            write32(table + 16 * v + 8, 0x20 + random_below(0xd0));
            write32(table + 16 * v + 12, random_below(3) == 0);
        }
        (void)read32(table + 0x2000); /* the PBA */
        write32(table + 0x2000, 0xffffffffu);
        if (!start(device, 0, FEATURE_HIGH_VERSION_1, RING_SIZE)) {
            continue;
        }
        write16(device->common + COMMON_CONFIG_MSIX_VECTOR, (uint16_t)random_below(vectors + 2));
        write16(device->common + COMMON_QUEUE_SELECT, device->test_queue);
        write16(device->common + COMMON_QUEUE_MSIX_VECTOR, (uint16_t)random_below(vectors + 2));
        cfg_write(a, msix + 2, 2, round == 2 ? 0xc000 : 0x8000); /* function mask */
        valid_request();
        publish(device, 1);
        record(device, "request with MSI-X vectors", watch(device, SLOW_MS), USED);
        set_descriptor(DESCRIPTORS, 0, BUFFERS, 1, DESC_NEXT, 0); /* a loop: config interrupt */
        head(1, 0);
        publish(device, 2);
        record(device, "ring broken with MSI-X vectors", watch_needs_reset(device), NEEDS_RESET);
    }
    cfg_write(a, msix + 2, 2, 0);
    for (uint32_t v = 0; v < vectors; ++v) {
        write32(table + 16 * v + 12, 1);
    }
}

/* --- a ring the device keeps filling itself ----------------------------------------- */
/* virtio-blk reads sectors into memory the driver chose, and nothing stops that memory
   from being the available ring's index and the next request's sector field. On a disk
   whose sector N holds the index N + 2 and the sector number N + 1 (hostile-tests.sh
   makes one, and marks it), each read makes the next request available: the device
   serves forever on one vCPU's single kick. A reset must still stop it. */
#define FEED_MAGIC "berth-hostile-feed"

static int is_feeding_disk(struct virtio* device) {
    if (device->pci.id != 0x1042 || !start(device, 0, FEATURE_HIGH_VERSION_1, RING_SIZE)) {
        return 0;
    }
    set_descriptor(DESCRIPTORS, 0, BUFFERS, 16, DESC_NEXT, 1); /* IN, sector 0 */
    set_descriptor(DESCRIPTORS, 1, BUFFERS + 0x1000, 512, DESC_NEXT | DESC_WRITE, 2);
    set_descriptor(DESCRIPTORS, 2, BUFFERS + 0x200, 1, DESC_WRITE, 0);
    publish(device, 1);
    if (watch(device, SLOW_MS) != OUTCOME_USED) {
        return 0;
    }
    const char* magic = FEED_MAGIC;
    for (uint32_t i = 0; magic[i] != 0; ++i) {
        if (read8(BUFFERS + 0x1000 + 16 + i) != (uint8_t)magic[i]) {
            return 0;
        }
    }
    return 1;
}

static void run_feeding_ring(struct virtio* device) {
    if (!is_feeding_disk(device) || !start(device, 0, FEATURE_HIGH_VERSION_1, RING_SIZE)) {
        return;
    }
    const uint32_t junk = BUFFERS + 0x2000;
    /* The 512 bytes of sector N land on: the available index (2), junk (6), the
       header's sector field (8), junk (496); then the status byte. */
    set_descriptor(DESCRIPTORS, 0, BUFFERS, 16, DESC_NEXT, 1);
    set_descriptor(DESCRIPTORS, 1, RING_AVAIL + 2, 2, DESC_NEXT | DESC_WRITE, 2);
    set_descriptor(DESCRIPTORS, 2, junk, 6, DESC_NEXT | DESC_WRITE, 3);
    set_descriptor(DESCRIPTORS, 3, BUFFERS + 8, 8, DESC_NEXT | DESC_WRITE, 4);
    set_descriptor(DESCRIPTORS, 4, junk + 16, 496, DESC_NEXT | DESC_WRITE, 5);
    set_descriptor(DESCRIPTORS, 5, BUFFERS + 0x200, 1, DESC_WRITE, 0);
    publish(device, 1);
    const uint32_t start_ms = now_ms();
    while (used_idx() < 64 && (virtio_status(device) & STATUS_NEEDS_RESET) == 0 &&
           now_ms() - start_ms < SLOW_MS) {
    }
    const uint16_t served = used_idx();
    record(device, "ring the device keeps filling, then a reset",
           served >= 64 && virtio_reset(device) ? OUTCOME_REFUSED : OUTCOME_QUIET,
           EXPECT(OUTCOME_REFUSED));
}

/* --- the device as a driver would use it ------------------------------------------- */
int recovers(struct virtio* device) {
    if (!start(device, 0, FEATURE_HIGH_VERSION_1, RING_SIZE)) {
        return 0;
    }
    static const char line[] = "hostile: virtio-console still transmits\n";
    uint32_t expected_length = 16;
    switch (device->pci.id) {
        case 0x1042: /* virtio-blk: GET_ID, 20 bytes of serial and a status byte */
            write32(BUFFERS, 8);
            set_descriptor(DESCRIPTORS, 0, BUFFERS, 16, DESC_NEXT, 1);
            set_descriptor(DESCRIPTORS, 1, BUFFERS + 0x100, 20, DESC_NEXT | DESC_WRITE, 2);
            set_descriptor(DESCRIPTORS, 2, BUFFERS + 0x200, 1, DESC_WRITE, 0);
            write8(BUFFERS + 0x200, 0xff);
            expected_length = 21;
            break;
        case 0x1041: /* virtio-net: a broadcast frame behind the 12-byte header */
            fill((void*)(BUFFERS + 12), 0xff, 12);
            set_descriptor(DESCRIPTORS, 0, BUFFERS, 12 + 60, 0, 0);
            expected_length = 0;
            break;
        case 0x1043: /* virtio-console: a line on berth's output */
            copy((void*)BUFFERS, line, sizeof line - 1);
            set_descriptor(DESCRIPTORS, 0, BUFFERS, sizeof line - 1, 0, 0);
            expected_length = 0;
            break;
        default: /* virtio-rng: 16 random bytes */
            set_descriptor(DESCRIPTORS, 0, BUFFERS, 16, DESC_WRITE, 0);
            break;
    }
    head(0, 0);
    publish(device, 1);
    if (watch(device, SLOW_MS) != OUTCOME_USED) {
        return 0;
    }
    barrier();
    const uint32_t length = read32(RING_USED + 8);
    const int blk_ok = device->pci.id != 0x1042 || read8(BUFFERS + 0x200) == 0;
    return read32(RING_USED + 4) == 0 && length == expected_length && blk_ok &&
           virtio_reset(device);
}

void attack_device(struct virtio* device, uint32_t random_rounds) {
    if (!recovers(device)) {
        record(device, "a correct request before the attack", OUTCOME_QUIET, 0);
    }
    run_protocol_cases(device);
    run_setup_cases(device);
    run_ring_cases(device);
    run_msix(device);
    run_random_writes(device, 64 * random_rounds);
    run_random_rings(device, random_rounds);
    if (feeding_ring) {
        run_feeding_ring(device);
    }
    if (!recovers(device)) {
        record(device, "a correct request after the attack", OUTCOME_QUIET, 0);
    }
}

/* --- BARs that collide or move while their devices run ------------------------------- */
void attack_bars(struct virtio* first, struct virtio* second) {
    const uint32_t bar_register = 0x10;
    /* The second device's BAR on top of the first's; both go to DRIVER_OK (the doorbells
       of both now claim the same addresses). */
    if (!virtio_reset(first) || !virtio_reset(second)) {
        return;
    }
    cfg_write(second->pci.address, bar_register, 4, first->bar);
    /* Now first->common answers for one of the two: bring both up through it twice and
       through the second's own structure offsets (the same addresses). */
    for (int i = 0; i < 2; ++i) {
        start(first, 0, FEATURE_HIGH_VERSION_1, RING_SIZE);
        valid_request();
        publish(first, 1);
        (void)watch(first, QUIET_MS);
    }
    /* The second device alone at the first one's address: its BAR moved, memory on. */
    cfg_write(first->pci.address, 0x04, 2, 0);
    start(first, 0, FEATURE_HIGH_VERSION_1, RING_SIZE); /* reaches the second device */
    cfg_write(first->pci.address, 0x04, 2, 0x0006);
    start(first, 0, FEATURE_HIGH_VERSION_1, RING_SIZE);
    valid_request();
    publish(first, 1);
    (void)watch(first, QUIET_MS);
    /* Back where they were; each must still work. */
    cfg_write(second->pci.address, bar_register, 4, second->bar);
    record(first, "BAR shared with another running device",
           recovers(first) ? OUTCOME_USED : OUTCOME_QUIET, USED);
    record(second, "BAR shared with another running device",
           recovers(second) ? OUTCOME_USED : OUTCOME_QUIET, USED);

    /* A running device's BAR moves inside the PCI window and back: its doorbell follows. */
    const uint32_t moved = 0xe8000000u;
    if (start(first, 0, FEATURE_HIGH_VERSION_1, RING_SIZE)) {
        valid_request();
        cfg_write(first->pci.address, bar_register, 4, moved);
        write16(RING_AVAIL + 2, 1);
        barrier();
        write16(first->notify - first->bar + moved + first->test_queue * first->notify_multiplier,
                first->test_queue);
        const uint32_t start_ms = now_ms();
        while (used_idx() == 0 && now_ms() - start_ms < SLOW_MS) {
        }
        cfg_write(first->pci.address, bar_register, 4, first->bar);
        record(first, "doorbell of a BAR moved while running",
               used_idx() != 0 ? OUTCOME_USED : OUTCOME_QUIET, USED);
    }
    virtio_reset(first);
}
