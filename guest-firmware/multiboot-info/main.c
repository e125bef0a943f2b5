/* berth's Multiboot test kernel: prints what the boot loader handed it, one field a
   line, on COM1, then ends the VM through QEMU's debug-exit port (berth --debug-exit
   0xf4) with 0x21, so berth exits with status (0x21 << 1) | 1 = 67. The test
   (tests/integration/multiboot-tests.sh) compares every line with what it asked for. */
#include <stdint.h>

#include "port_io.h"

#define COM1 0x3f8
#define LSR_THR_EMPTY 0x20
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

static void putc(char c) {
    while ((inb(COM1 + 5) & LSR_THR_EMPTY) == 0) {
    }
    outb(COM1, (uint8_t)c);
}
static void puts(const char* s) {
    while (*s) {
        putc(*s++);
    }
}
static void put_hex(uint64_t value) {
    puts("0x");
    int shift = 60;
    while (shift > 0 && ((value >> shift) & 0xf) == 0) {
        shift -= 4;
    }
    for (; shift >= 0; shift -= 4) {
        putc("0123456789abcdef"[(value >> shift) & 0xf]);
    }
}
static void put_dec(uint32_t value) {
    char digits[10];
    int n = 0;
    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    while (n > 0) {
        putc(digits[--n]);
    }
}

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
        puts("acpi rsdp ");
        put_hex(at);
        puts(" madt cpus ");
        put_dec(cpus);
        puts("\n");
        if (pm_timer != 0) {
            /* The FADT's PM timer: 24 bits at 3.579545 MHz; it moves between two reads. */
            const uint32_t first = inl((uint16_t)pm_timer);
            uint32_t later = first;
            for (int i = 0; i < 100000 && later == first; ++i) {
                later = inl((uint16_t)pm_timer);
            }
            puts("acpi pm-timer ");
            put_hex(pm_timer);
            puts(later != first && later < (1u << 24) ? " advances\n" : " stuck\n");
        }
        return;
    }
    puts("acpi no rsdp in the BIOS area\n");
}

void kernel_main(uint32_t magic, const struct multiboot_info* info) {
    uint32_t cr0, eflags;
    uint16_t cs, ds;
    __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
    __asm__ volatile("pushf; pop %0" : "=r"(eflags));
    __asm__ volatile("mov %%cs, %0; mov %%ds, %1" : "=r"(cs), "=r"(ds));
    puts("magic ");
    put_hex(magic);
    puts("\ncr0.pe ");
    put_dec(cr0 & 1);
    puts("\ncr0.pg ");
    put_dec(cr0 >> 31);
    puts("\neflags.if ");
    put_dec((eflags >> 9) & 1);
    puts("\ncs ");
    put_hex(cs);
    puts("\nds ");
    put_hex(ds);
    puts("\nflags ");
    put_hex(info->flags);
    puts("\nmem_lower ");
    put_dec(info->mem_lower);
    puts("\nmem_upper ");
    put_dec(info->mem_upper);
    puts("\ncmdline ");
    puts((const char*)info->cmdline);
    puts("\nloader ");
    puts((const char*)info->boot_loader_name);
    puts("\n");
    for (uint32_t at = info->mmap_addr; at < info->mmap_addr + info->mmap_length;) {
        const struct multiboot_mmap_entry* entry = (const struct multiboot_mmap_entry*)at;
        puts("mmap ");
        put_hex(entry->base);
        puts(" ");
        put_hex(entry->length);
        puts(" ");
        put_dec(entry->type);
        puts("\n");
        at += entry->size + 4;
    }
    const struct multiboot_module* modules = (const struct multiboot_module*)info->mods_addr;
    for (uint32_t i = 0; i < info->mods_count; ++i) {
        const uint8_t* bytes = (const uint8_t*)modules[i].start;
        uint32_t sum = 0;
        for (uint32_t j = 0; j < modules[i].end - modules[i].start; ++j) {
            sum += bytes[j];
        }
        puts("module ");
        put_dec(i);
        puts(" size ");
        put_dec(modules[i].end - modules[i].start);
        puts(" page-aligned ");
        put_dec((modules[i].start & 0xfff) == 0);
        puts(" sum ");
        put_dec(sum);
        puts(" string ");
        puts((const char*)modules[i].string);
        puts("\n");
    }
    print_acpi_cpus();
    puts("done\n");
    outl(QEMU_DEBUG_EXIT, EXIT_CODE);
}
