/* PCI configuration mechanism #1 (address at 0xCF8, data at 0xCFC-0xCFF) and the attacks
   on it. */
#include "hostile.h"

#define CONFIG_ADDRESS 0xcf8
#define CONFIG_DATA 0xcfc
#define ENABLE 0x80000000u

uint32_t cfg_address(uint32_t bus, uint32_t device, uint32_t function, uint32_t reg) {
    return ENABLE | bus << 16 | device << 11 | function << 8 | (reg & 0xfc);
}

uint32_t cfg_read(uint32_t address, uint32_t reg, int width) {
    outl(CONFIG_ADDRESS, address | (reg & 0xfc));
    const uint16_t port = (uint16_t)(CONFIG_DATA + (reg & 3));
    switch (width) {
        case 1:
            return inb(port);
        case 2:
            return inw(port);
        default:
            return inl(port);
    }
}

void cfg_write(uint32_t address, uint32_t reg, int width, uint32_t value) {
    outl(CONFIG_ADDRESS, address | (reg & 0xfc));
    const uint16_t port = (uint16_t)(CONFIG_DATA + (reg & 3));
    switch (width) {
        case 1:
            outb(port, (uint8_t)value);
            break;
        case 2:
            outw(port, (uint16_t)value);
            break;
        default:
            outl(port, value);
            break;
    }
}

static int add_if_present(struct pci_function* found, int count, int limit, uint32_t bus,
                          uint32_t device, uint32_t function) {
    const uint32_t address = cfg_address(bus, device, function, 0);
    const uint32_t id = cfg_read(address, 0, 4);
    if ((id & 0xffff) == 0xffff || count >= limit) {
        return count;
    }
    found[count].address = address;
    found[count].device = (uint8_t)device;
    found[count].function = (uint8_t)function;
    found[count].vendor = (uint16_t)id;
    found[count].id = (uint16_t)(id >> 16);
    print("hostile: pci ");
    print_hex(bus);
    print(":");
    print_hex(device);
    print(".");
    print_dec(function);
    print(" ");
    print_hex(id);
    print("\n");
    return count + 1;
}

int pci_scan(struct pci_function* found, int limit) {
    int count = 0;
    for (uint32_t device = 0; device < 32; ++device) {
        for (uint32_t function = 0; function < 8; ++function) {
            count = add_if_present(found, count, limit, 0, device, function);
        }
    }
    /* berth has one bus; the rest must answer "nobody here" (all ones). */
    for (uint32_t bus = 1; bus < 256; ++bus) {
        if (add_if_present(found, count, limit, bus, 0, 0) != count) {
            print("hostile: FAIL a function answers on bus ");
            print_dec(bus);
            print("\n");
            ++count;
        }
    }
    return count;
}

/* The capability list, followed with a bound: a hostile device could loop it too. */
static uint32_t next_capability(uint32_t address, uint32_t at) {
    return at == 0 ? cfg_read(address, 0x34, 1) & 0xfc : cfg_read(address, at + 1, 1) & 0xfc;
}

void pci_attack(const struct pci_function* function) {
    const uint32_t a = function->address;
    uint32_t saved[64];
    for (uint32_t reg = 0; reg < 256; reg += 4) {
        saved[reg / 4] = cfg_read(a, reg, 4);
    }
    /* Every register at every width and alignment, the last ones running off the end. */
    for (uint32_t reg = 0; reg < 256; ++reg) {
        (void)cfg_read(a, reg, 1);
        if (reg % 2 == 0 || reg == 255) {
            (void)cfg_read(a, reg, 2);
        }
    }
    /* BAR sizing (all ones, read, put back), as a firmware does; then boundary values. */
    for (uint32_t bar = 0x10; bar <= 0x24; bar += 4) {
        cfg_write(a, bar, 4, 0xffffffffu);
        (void)cfg_read(a, bar, 4);
        cfg_write(a, bar, 4, boundary32());
        cfg_write(a, bar, 2, boundary32());
        cfg_write(a, bar + 3, 1, boundary32());
        cfg_write(a, bar, 4, saved[bar / 4]);
    }
    /* Memory decoding on with BAR 0 moved about: into RAM, to address 0, to the top. */
    const uint32_t moves[] = {0x00000000u, 0x00100000u, 0xfee00000u, 0xfffff000u, 0xe0008000u};
    for (unsigned i = 0; i < sizeof moves / sizeof moves[0]; ++i) {
        cfg_write(a, 0x10, 4, moves[i]);
        cfg_write(a, 0x04, 2, 0x0006);
        (void)read32(moves[i] == 0 ? 0x10 : moves[i] + 0x14); /* RAM or the device */
    }
    cfg_write(a, 0x04, 2, 0);
    cfg_write(a, 0x10, 4, saved[4]);
    cfg_write(a, 0x14, 4, saved[5]);
    /* Every dword with boundary values, then random bytes and words at random places. */
    for (uint32_t reg = 0; reg < 256; reg += 4) {
        cfg_write(a, reg, 4, boundary32());
    }
    for (int i = 0; i < 256; ++i) {
        const uint32_t reg = random_below(256);
        cfg_write(a, reg, 1 << random_below(3), random32());
    }
    /* The capabilities: each one's bytes with random values, then the chain again. */
    int hops = 0;
    for (uint32_t at = next_capability(a, 0); at != 0 && hops < 48;
         at = next_capability(a, at), ++hops) {
        for (uint32_t i = 2; i < 20 && at + i < 256; ++i) {
            cfg_write(a, at + i, 1, random32());
        }
        cfg_write(a, at, 4, boundary32());
    }
    if (hops >= 48) {
        print("hostile: FAIL the capability list loops\n");
    }
    /* Put back what the virtio cases need: BARs, MSI-X control, the pci_cfg window. */
    for (uint32_t reg = 0x10; reg < 0x28; reg += 4) {
        cfg_write(a, reg, 4, saved[reg / 4]);
    }
    for (uint32_t reg = 0x40; reg < 256; reg += 4) {
        cfg_write(a, reg, 4, saved[reg / 4]);
    }
    cfg_write(a, 0x04, 2, 0x0006); /* memory decoding and bus mastering */
    for (uint32_t reg = 0; reg < 0x10; reg += 4) {
        const uint32_t now = cfg_read(a, reg, 4);
        if (reg != 4 && now != saved[reg / 4]) {
            print("hostile: FAIL read-only register ");
            print_hex(reg);
            print(" changed to ");
            print_hex(now);
            print("\n");
        }
    }
}

void pci_attack_ports(void) {
    /* The address register with reserved bits set, disabled, and byte/word sized. */
    const uint32_t addresses[] = {0xffffffffu, 0x7fffffffu, 0x80000003u, 0x81000000u,
                                  0x80ff0000u, 0x8000ff00u, 0x00000000u};
    for (unsigned i = 0; i < sizeof addresses / sizeof addresses[0]; ++i) {
        outl(CONFIG_ADDRESS, addresses[i]);
        (void)inl(CONFIG_ADDRESS);
        (void)inl(CONFIG_DATA);
        outl(CONFIG_DATA, random32());
        for (uint16_t port = CONFIG_ADDRESS; port < CONFIG_ADDRESS + 8; ++port) {
            (void)inb(port);
            outb(port, (uint8_t)random32());
        }
        outw(CONFIG_ADDRESS + 2, (uint16_t)random32());
        (void)inw(CONFIG_DATA + 2);
        outw(CONFIG_DATA + 1, (uint16_t)random32()); /* a word across two data ports */
        outl(CONFIG_DATA + 1, random32());           /* a dword past the end */
        (void)inl(CONFIG_DATA + 3);
    }
    /* 0xCF9 is a PC's reset control register: berth has none, so this is no reboot. */
    outb(0xcf9, 0x06);
    outl(CONFIG_ADDRESS, 0);
}
