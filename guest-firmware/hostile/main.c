/* The hostile guest's plan: read the command line (seed=N rounds=N feed=0|1), attack the PCI
   configuration ports and every function's configuration space, then every virtio
   device's registers and rings, check that each still serves a correct request, print
   a verdict on COM1 and power off. tests/integration/hostile-tests.sh runs it. */
#include "hostile.h"

struct multiboot_info {
    uint32_t flags, mem_lower, mem_upper, boot_device, cmdline;
};

/* The number after `key` in the command line, or `fallback`. Decimal or 0x-hex. */
static uint32_t option(const char* cmdline, const char* key, uint32_t fallback) {
    for (const char* at = cmdline; *at; ++at) {
        const char* k = key;
        const char* v = at;
        while (*k && *v == *k) {
            ++k;
            ++v;
        }
        if (*k != 0 || (at != cmdline && at[-1] != ' ')) {
            continue;
        }
        uint32_t base = 10, value = 0;
        if (v[0] == '0' && v[1] == 'x') {
            base = 16;
            v += 2;
        }
        for (;; ++v) {
            uint32_t digit;
            if (*v >= '0' && *v <= '9') {
                digit = (uint32_t)(*v - '0');
            } else if (base == 16 && *v >= 'a' && *v <= 'f') {
                digit = (uint32_t)(*v - 'a' + 10);
            } else {
                break;
            }
            value = value * base + digit;
        }
        return value;
    }
    return fallback;
}

void kernel_main(uint32_t magic, const struct multiboot_info* info) {
    (void)magic;
    const char* cmdline = (info->flags & 4) ? (const char*)info->cmdline : "";
    const uint32_t seed = option(cmdline, "seed=", 0x62657274u); /* "bert" */
    const uint32_t rounds = option(cmdline, "rounds=", 16);
    feeding_ring = option(cmdline, "feed=", 1); /* feed=0: not the self-filling ring */
    ram_end = (info->mem_upper + 1024) * 1024;  /* 1 MiB + mem_upper KiB */
    random_seed(seed);
    print("hostile: seed ");
    print_hex(seed);
    print(" rounds ");
    print_dec(rounds);
    print(" ram ");
    print_hex(ram_end);
    print("\n");

    pci_attack_ports();
    static struct pci_function functions[MAX_FUNCTIONS];
    const int count = pci_scan(functions, MAX_FUNCTIONS);
    for (int i = 0; i < count; ++i) {
        pci_attack(&functions[i]);
    }
    print("hostile: configuration space attacked\n");

    static struct virtio devices[MAX_FUNCTIONS];
    int virtio_count = 0;
    for (int i = 0; i < count; ++i) {
        virtio_count += virtio_probe(&devices[virtio_count], &functions[i]);
    }
    for (int i = 0; i < virtio_count; ++i) {
        attack_device(&devices[i], rounds);
    }
    if (virtio_count >= 2) {
        attack_bars(&devices[0], &devices[1]);
    }

    uint32_t cases = 0, failed = 0;
    for (int i = 0; i < virtio_count; ++i) {
        struct virtio* d = &devices[i];
        const int recovered = recovers(d) && virtio_reset(d);
        print("hostile: ");
        print(d->name);
        print(" slot ");
        print_dec(d->pci.device);
        print(": ");
        print_dec(d->cases);
        print(" cases, ");
        print_dec(d->needs_reset);
        print(" needs-reset, ");
        print_dec(d->used);
        print(" used, ");
        print_dec(d->refused);
        print(" refused, ");
        print_dec(d->quiet);
        print(" quiet, ");
        print_dec(d->failed);
        print(recovered ? " failed; recovered\n" : " failed; FAIL not recovered\n");
        cases += d->cases;
        failed += d->failed + (recovered ? 0 : 1);
    }
    print(failed == 0 && virtio_count > 0 ? "hostile: verdict pass (" : "hostile: verdict FAIL (");
    print_dec(virtio_count);
    print(" devices, ");
    print_dec(cases);
    print(" cases, ");
    print_dec(failed);
    print(" failed)\n");
    power_off();
}
