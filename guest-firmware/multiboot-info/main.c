/* berth's Multiboot test kernel: prints what the boot loader handed it, one field a
   line, on COM1, then ends the VM through QEMU's debug-exit port (berth --debug-exit
   0xf4) with 0x21, so berth exits with status (0x21 << 1) | 1 = 67. The test
   (tests/integration/multiboot-tests.sh) compares every line with what it asked for. */
#include <stdint.h>

#include "port_io.h"
#include "serial.h"

#define QEMU_DEBUG_EXIT 0xf4
#define EXIT_CODE 0x21

struct multiboot_info {
    uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length, mmap_addr, drives_length, drives_addr, config_table;
    uint32_t boot_loader_name;
};

struct multiboot_module {
    uint32_t start, end, string, reserved;
};

struct multiboot_mmap_entry {
    uint32_t size;
    uint64_t base, length;
    uint32_t type;
} __attribute__((packed));

static int same(const char* a, const char* b, int n) {
    for (int i = 0; i < n; ++i) {
        if (a[i] != b[i]) {
            return 0;
        }
    }
    return 1;
}

/* How a kernel without a zero page finds the CPUs: the RSDP on a 16-byte boundary in
   the BIOS area 0xE0000-0xFFFFF, its XSDT (or RSDT), the MADT ("APIC") among the XSDT's tables,
   and one enabled processor local APIC entry (type 0) per CPU. */
static void print_acpi_cpus(void) {
    for (uint32_t at = 0xe0000; at < 0x100000; at += 16) {
        if (!same((const char*)at, "RSD PTR ", 8)) {
            continue;
        }
        /* Revision 2 and up: the XSDT's 64-bit pointers; before: the RSDT's 32-bit. */
        const int revision = *(const uint8_t*)(at + 15);
        const uint32_t sdt = *(const uint32_t*)(at + (revision >= 2 ? 24 : 16));
        const uint32_t sdt_length = *(const uint32_t*)(sdt + 4);
        uint32_t cpus = 0, pm_timer = 0;
        for (uint32_t entry = sdt + 36; entry < sdt + sdt_length; entry += revision >= 2 ? 8 : 4) {
            const uint32_t table = *(const uint32_t*)entry;
            if (same((const char*)table, "FACP", 4)) {
                pm_timer = *(const uint32_t*)(table + 76); /* PM_TMR_BLK */
            }
            if (!same((const char*)table, "APIC", 4)) {
                continue;
            }
            const uint32_t length = *(const uint32_t*)(table + 4);
            for (uint32_t sub = table + 44; sub < table + length;
                 sub += *(const uint8_t*)(sub + 1)) {
                if (*(const uint8_t*)sub == 0 && (*(const uint32_t*)(sub + 4) & 1) != 0) {
                    ++cpus;
                }
            }
        }
        serial_print("acpi rsdp ");
        serial_print_hex_short(at);
        serial_print(" madt cpus ");
        serial_print_dec(cpus);
        serial_print("\n");
        if (pm_timer != 0) {
            /* The FADT's PM timer: 24 bits at 3.579545 MHz; it moves between two reads. */
            const uint32_t first = inl((uint16_t)pm_timer);
            uint32_t later = first;
            for (int i = 0; i < 100000 && later == first; ++i) {
                later = inl((uint16_t)pm_timer);
            }
            serial_print("acpi pm-timer ");
            serial_print_hex_short(pm_timer);
            serial_print(later != first && later < (1u << 24) ? " advances\n" : " stuck\n");
        }
        return;
    }
    serial_print("acpi no rsdp in the BIOS area\n");
}

void kernel_main(uint32_t magic, const struct multiboot_info* info) {
    uint32_t cr0, eflags;
    uint16_t cs, ds;
    __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
    __asm__ volatile("pushf; pop %0" : "=r"(eflags));
    __asm__ volatile("mov %%cs, %0; mov %%ds, %1" : "=r"(cs), "=r"(ds));
    serial_print("magic ");
    serial_print_hex_short(magic);
    serial_print("\ncr0.pe ");
    serial_print_dec(cr0 & 1);
    serial_print("\ncr0.pg ");
    serial_print_dec(cr0 >> 31);
    serial_print("\neflags.if ");
    serial_print_dec((eflags >> 9) & 1);
    serial_print("\ncs ");
    serial_print_hex_short(cs);
    serial_print("\nds ");
    serial_print_hex_short(ds);
    serial_print("\nflags ");
    serial_print_hex_short(info->flags);
    serial_print("\nmem_lower ");
    serial_print_dec(info->mem_lower);
    serial_print("\nmem_upper ");
    serial_print_dec(info->mem_upper);
    serial_print("\ncmdline ");
    serial_print((const char*)info->cmdline);
    serial_print("\nloader ");
    serial_print((const char*)info->boot_loader_name);
    serial_print("\n");
    for (uint32_t at = info->mmap_addr; at < info->mmap_addr + info->mmap_length;) {
        const struct multiboot_mmap_entry* entry = (const struct multiboot_mmap_entry*)at;
        serial_print("mmap ");
        serial_print_hex_short(entry->base);
        serial_print(" ");
        serial_print_hex_short(entry->length);
        serial_print(" ");
        serial_print_dec(entry->type);
        serial_print("\n");
        at += entry->size + 4;
    }
    const struct multiboot_module* modules = (const struct multiboot_module*)info->mods_addr;
    for (uint32_t i = 0; i < info->mods_count; ++i) {
        const uint8_t* bytes = (const uint8_t*)modules[i].start;
        uint32_t sum = 0;
        for (uint32_t j = 0; j < modules[i].end - modules[i].start; ++j) {
            sum += bytes[j];
        }
        serial_print("module ");
        serial_print_dec(i);
        serial_print(" size ");
        serial_print_dec(modules[i].end - modules[i].start);
        serial_print(" page-aligned ");
        serial_print_dec((modules[i].start & 0xfff) == 0);
        serial_print(" sum ");
        serial_print_dec(sum);
        serial_print(" string ");
        serial_print((const char*)modules[i].string);
        serial_print("\n");
    }
    print_acpi_cpus();
    serial_print("done\n");
    outl(QEMU_DEBUG_EXIT, EXIT_CODE);
}
