/* The hostile guest: a Multiboot kernel that attacks berth's PCI bus and virtio devices
   from inside the VM (issue 18, "a hostile guest"). What its files share: port and
   memory-mapped I/O, COM1, the PM timer, the random number generator, and the virtio
   device as the program sees it. 32-bit protected mode, paging off: a guest-physical
   address below 4 GiB is a pointer. */
#pragma once

#include <stdint.h>

/* --- port and memory-mapped I/O --------------------------------------------------- */
#include "port_io.h"

static inline uint8_t read8(uint32_t address) {
    return *(volatile uint8_t*)address;
}
static inline uint16_t read16(uint32_t address) {
    return *(volatile uint16_t*)address;
}
static inline uint32_t read32(uint32_t address) {
    return *(volatile uint32_t*)address;
}
static inline void write8(uint32_t address, uint8_t value) {
    *(volatile uint8_t*)address = value;
}
static inline void write16(uint32_t address, uint16_t value) {
    *(volatile uint16_t*)address = value;
}
static inline void write32(uint32_t address, uint32_t value) {
    *(volatile uint32_t*)address = value;
}
/* The device reads and writes the rings behind our back: keep the compiler's accesses
   in program order around the MMIO that tells it to look. */
static inline void barrier(void) {
    __asm__ volatile("mfence" ::: "memory");
}

/* --- platform.c: COM1, time, randomness, the end ----------------------------------- */
void print(const char* text);
void print_dec(uint32_t value);
void print_hex(uint32_t value);
/* Milliseconds since the first call, from the ACPI PM timer (berth gives Multiboot
   kernels one at port 0x608). */
uint32_t now_ms(void);
/* A deterministic xorshift generator: the same seed, the same attack. */
void random_seed(uint32_t seed);
uint32_t random32(void);
uint32_t random_below(uint32_t bound);
/* A value programs get wrong: 0, 1, all ones, a power of two and its neighbours, or
   random bits. */
uint32_t boundary32(void);
/* ACPI S5 through berth's sleep control register: berth exits 0. */
void power_off(void) __attribute__((noreturn));
void fill(void* to, uint8_t value, uint32_t count);
void copy(void* to, const void* from, uint32_t count);

/* --- pci.c: configuration mechanism #1 --------------------------------------------- */
uint32_t cfg_address(uint32_t bus, uint32_t device, uint32_t function, uint32_t reg);
uint32_t cfg_read(uint32_t address, uint32_t reg, int width);
void cfg_write(uint32_t address, uint32_t reg, int width, uint32_t value);

#define MAX_FUNCTIONS 32
struct pci_function {
    uint32_t address; /* cfg_address of register 0 */
    uint8_t device, function;
    uint16_t vendor, id;
};
/* Every function on every bus (a scan of bus 0 and the first slot of buses 1-255, where
   berth has nothing); returns the count. */
int pci_scan(struct pci_function* found, int limit);
/* Reads every register at every width, sizes each BAR, writes boundary and random
   values to every register and the capabilities, pokes the address port's reserved
   bits, then puts back what a driver needs (command, BARs, MSI-X control). */
void pci_attack(const struct pci_function* function);
/* Bad address-port writes, byte and word accesses to 0xCF8-0xCFF, functions that do
   not exist. */
void pci_attack_ports(void);

/* --- virtio.c: one virtio-pci device, driven by the book or not --------------------- */
struct virtio {
    const char* name;
    struct pci_function pci;
    uint32_t bar;    /* BAR 0's address as the scan found it */
    uint32_t common; /* addresses of the capabilities' structures */
    uint32_t notify;
    uint32_t notify_multiplier;
    uint32_t isr;
    uint32_t device_config;
    uint32_t device_config_length;
    uint16_t queues;
    uint16_t test_queue; /* the queue the device pops from unasked (see virtio.c) */
    uint32_t offered_low, offered_high;
    /* What the cases saw. */
    uint32_t cases, needs_reset, used, refused, quiet, failed;
};

#define STATUS_ACKNOWLEDGE 1
#define STATUS_DRIVER 2
#define STATUS_DRIVER_OK 4
#define STATUS_FEATURES_OK 8
#define STATUS_NEEDS_RESET 0x40
#define STATUS_FAILED 0x80

#define FEATURE_INDIRECT_DESC (1u << 28)
#define FEATURE_EVENT_IDX (1u << 29)
#define FEATURE_HIGH_VERSION_1 (1u << 0)  /* bit 32 */
#define FEATURE_HIGH_RING_RESET (1u << 8) /* bit 40 */

/* The common configuration's fields (virtio 1.2, 4.1.4.3). */
#define COMMON_DEVICE_FEATURE_SELECT 0x00
#define COMMON_DEVICE_FEATURE 0x04
#define COMMON_DRIVER_FEATURE_SELECT 0x08
#define COMMON_DRIVER_FEATURE 0x0c
#define COMMON_CONFIG_MSIX_VECTOR 0x10
#define COMMON_NUM_QUEUES 0x12
#define COMMON_STATUS 0x14
#define COMMON_QUEUE_SELECT 0x16
#define COMMON_QUEUE_SIZE 0x18
#define COMMON_QUEUE_MSIX_VECTOR 0x1a
#define COMMON_QUEUE_ENABLE 0x1c
#define COMMON_QUEUE_NOTIFY_OFF 0x1e
#define COMMON_QUEUE_DESC 0x20
#define COMMON_QUEUE_DRIVER 0x28
#define COMMON_QUEUE_DEVICE 0x30
#define COMMON_QUEUE_RESET 0x3a

/* Finds the capabilities of a virtio function; 0 when it is not one berth would make. */
int virtio_probe(struct virtio* device, const struct pci_function* function);
uint8_t virtio_status(const struct virtio* device);
void virtio_set_status(const struct virtio* device, uint8_t status);
/* Writes 0 and waits for the device to read back 0; returns 0 if it never does. */
int virtio_reset(const struct virtio* device);
/* ACKNOWLEDGE, DRIVER, the features, FEATURES_OK; returns the status read back. */
uint8_t virtio_negotiate(const struct virtio* device, uint32_t low, uint32_t high);
void virtio_queue_setup(const struct virtio* device, uint16_t queue, uint16_t size,
                        uint64_t descriptors, uint64_t driver_area, uint64_t device_area);
void virtio_queue_enable(const struct virtio* device, uint16_t queue);
void virtio_kick(const struct virtio* device, uint16_t queue);

/* --- the split ring ------------------------------------------------------------------ */
struct descriptor {
    uint64_t address;
    uint32_t length;
    uint16_t flags;
    uint16_t next;
} __attribute__((packed));
#define DESC_NEXT 1
#define DESC_WRITE 2
#define DESC_INDIRECT 4

/* Where the cases build rings and buffers, above the kernel (loaded at 1 MiB). */
#define RING_DESCRIPTORS 0x00400000u
#define RING_AVAIL 0x00401000u
#define RING_USED 0x00402000u
#define BUFFERS 0x00410000u
#define INDIRECT 0x00500000u /* up to 512 KiB: the longest indirect table */
#define RING_SIZE 8

/* --- cases.c: the attacks on one device and the proof that it recovers --------------- */
/* What a case ended in. */
enum outcome { OUTCOME_NEEDS_RESET, OUTCOME_USED, OUTCOME_REFUSED, OUTCOME_QUIET };
void attack_device(struct virtio* device, uint32_t random_rounds);
/* Two devices share one BAR address while both run; a running device's BAR moves. */
void attack_bars(struct virtio* first, struct virtio* second);
/* A reset, then one well-formed request that must be answered; 1 when it was. */
int recovers(struct virtio* device);
/* Whether to run the self-filling ring (cases.c, run_feeding_ring): on a berth that
   cannot stop it, it is the last case that runs. */
extern uint32_t feeding_ring;
/* Guest RAM's size in bytes (from the Multiboot information): ring addresses past it. */
extern uint32_t ram_end;
