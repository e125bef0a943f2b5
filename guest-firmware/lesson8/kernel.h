/* Lesson 8: what the kernel's files share. Port and memory-mapped I/O are a line of
   inline assembly each; everything else is plain C. */
#pragma once

#include <stdint.h>

#include "port_io.h"

static inline uint32_t mmio_read(uintptr_t address) {
    return *(volatile uint32_t*)address;
}
static inline void mmio_write(uintptr_t address, uint32_t value) {
    *(volatile uint32_t*)address = value;
}
static inline void pause(void) {
    __asm__ volatile("pause" ::: "memory");
}

/* serial.c: an 8250/16550 UART driver for COM1, shared by all CPUs. */
void serial_init(void);
void serial_print(const char* text);
void serial_print_dec(uint32_t value);
void serial_print_hex(uint32_t value);
void serial_lock(void);
void serial_unlock(void);

/* fw_cfg.c: QEMU's firmware configuration device, which berth has too. */
int fw_cfg_present(void);
uint16_t fw_cfg_cpu_count(void);
uint64_t fw_cfg_ram_size(void);

/* descriptors.c: the kernel's own GDT and IDT. */
void gdt_load(void); /* on every CPU */
void idt_init(void);
void idt_load(void); /* on every CPU */

/* smp.c: the local APIC and the other CPUs. */
uint32_t lapic_id(void);
void smp_start_cpus(uint32_t count);
