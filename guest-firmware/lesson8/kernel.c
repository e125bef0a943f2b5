/* Lesson 8: a kernel in C. A Multiboot boot loader (berth, QEMU's -kernel, GRUB)
   loads it at 1 MiB and jumps to boot.S's _start in 32-bit protected mode, which calls
   kernel_main with the loader's magic and its information structure. From there the
   kernel is on its own: it talks to the serial port, loads its own GDT and IDT, reads
   fw_cfg, and wakes the other CPUs, which each say hello. */
#include "kernel.h"

#define MULTIBOOT_LOADER_MAGIC 0x2badb002
#define MULTIBOOT_INFO_CMDLINE (1u << 2)
#define MULTIBOOT_INFO_LOADER_NAME (1u << 9)
#define BERTH_DEBUG_EXIT 0x501  /* berth exits with the byte written here */

/* The start of the Multiboot information structure (Multiboot 0.6.96, 3.3). */
struct multiboot_info {
    uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length, mmap_addr, drives_length, drives_addr, config_table;
    uint32_t boot_loader_name;
};

static void power_off(uint8_t status) {
    outb(BERTH_DEBUG_EXIT, status);
}

void kernel_main(uint32_t magic, const struct multiboot_info* info) {
    serial_init();
    serial_print("Lesson 8: a kernel in C\n");
    if (magic != MULTIBOOT_LOADER_MAGIC) {
        serial_print("not started by a Multiboot boot loader\n");
        power_off(1);
        return;
    }
    if (info->flags & MULTIBOOT_INFO_LOADER_NAME) {
        serial_print("Booted by ");
        serial_print((const char*)info->boot_loader_name);
        serial_print("\n");
    }
    if (info->flags & MULTIBOOT_INFO_CMDLINE) {
        serial_print("Command line: ");
        serial_print((const char*)info->cmdline);
        serial_print("\n");
    }

    gdt_load();
    idt_init();
    idt_load();
    serial_print("GDT and IDT loaded; a breakpoint to prove the IDT works:\n");
    __asm__ volatile("int3");

    uint32_t cpus = 1;
    if (fw_cfg_present()) {
        cpus = fw_cfg_cpu_count();
        serial_print("fw_cfg: ");
        serial_print_dec(cpus);
        serial_print(" CPUs, ");
        serial_print_dec((uint32_t)(fw_cfg_ram_size() >> 20));
        serial_print(" MiB of RAM\n");
    }
    serial_print("Hello from CPU ");
    serial_print_dec(lapic_id());
    serial_print(" (the bootstrap processor)\n");
    smp_start_cpus(cpus);
    serial_lock();
    serial_print("Goodbye\n");
    serial_unlock();
    power_off(0);
}
