/* Lesson 8: the kernel's own descriptor tables. The boot loader's GDT may be gone
   (Multiboot says not to trust it), and there is no IDT at all: the first exception
   would triple-fault the machine. So the kernel builds both, once, and every CPU
   loads them. */
#include "kernel.h"

#define KERNEL_CODE 0x08
#define KERNEL_DATA 0x10

/* Flat segments: base 0, limit 4 GiB (20 bits of 4 KiB pages), ring 0. */
static const uint64_t gdt[] = {
    0,
    0x00cf9a000000ffff, /* 0x08: code, execute/read, 32-bit */
    0x00cf92000000ffff, /* 0x10: data, read/write */
};

struct descriptor_pointer {
    uint16_t limit;
    uint32_t base;
} __attribute__((packed));

struct interrupt_gate {
    uint16_t offset_low;
    uint16_t selector;
    uint8_t zero;
    uint8_t type;  /* 0x8e: present, ring 0, 32-bit interrupt gate */
    uint16_t offset_high;
} __attribute__((packed));

static struct interrupt_gate idt[32];
extern const uint32_t interrupt_stubs[32];  /* boot.S */

void gdt_load(void) {
    const struct descriptor_pointer pointer = {sizeof gdt - 1, (uint32_t)gdt};
    __asm__ volatile(
        "lgdt %0\n\t"
        "ljmp %1, $1f\n"        /* reload CS with a far jump */
        "1:\n\t"
        "mov %2, %%ax\n\t"
        "mov %%ax, %%ds\n\t"
        "mov %%ax, %%es\n\t"
        "mov %%ax, %%ss\n\t"
        "mov %%ax, %%fs\n\t"
        "mov %%ax, %%gs"
        :
        : "m"(pointer), "i"(KERNEL_CODE), "i"(KERNEL_DATA)
        : "eax", "memory");
}

void idt_init(void) {
    for (int vector = 0; vector < 32; ++vector) {
        const uint32_t stub = interrupt_stubs[vector];
        idt[vector] = (struct interrupt_gate){(uint16_t)stub, KERNEL_CODE, 0, 0x8e,
                                              (uint16_t)(stub >> 16)};
    }
}

void idt_load(void) {
    const struct descriptor_pointer pointer = {sizeof idt - 1, (uint32_t)idt};
    __asm__ volatile("lidt %0" : : "m"(pointer));
}

/* What boot.S's stubs leave on the stack, lowest address first. */
struct interrupt_frame {
    uint32_t edi, esi, ebp, esp, ebx, edx, ecx, eax;  /* pusha */
    uint32_t vector, error_code;
    uint32_t eip, cs, eflags;                          /* pushed by the CPU */
};

void interrupt_handler(struct interrupt_frame* frame) {
    serial_lock();
    serial_print("CPU ");
    serial_print_dec(lapic_id());
    if (frame->vector == 3) {
        serial_print(": breakpoint (int3) handled\n");
        serial_unlock();
        return;  /* go on after the int3 */
    }
    serial_print(": exception ");
    serial_print_dec(frame->vector);
    serial_print(", error code ");
    serial_print_hex(frame->error_code);
    serial_print(", at ");
    serial_print_hex(frame->eip);
    serial_print("; stopping\n");
    serial_unlock();
    for (;;) {
        __asm__ volatile("cli; hlt");
    }
}
