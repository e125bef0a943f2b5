/* Lesson 8: QEMU's firmware configuration device (fw_cfg), which berth provides too.
   Write a 16-bit key to the selector port, then read the item byte by byte from the
   data port. Key 0 is the signature "QEMU"; 3 the RAM size; 5 the number of CPUs. */
#include "kernel.h"

#define FW_CFG_SELECTOR 0x510
#define FW_CFG_DATA 0x511
#define FW_CFG_SIGNATURE 0x0000
#define FW_CFG_RAM_SIZE 0x0003
#define FW_CFG_CPU_COUNT 0x0005

static void read_item(uint16_t key, void* out, uint32_t size) {
    outw(FW_CFG_SELECTOR, key);
    for (uint32_t i = 0; i < size; ++i) {
        ((uint8_t*)out)[i] = inb(FW_CFG_DATA);
    }
}

int fw_cfg_present(void) {
    char signature[4];
    read_item(FW_CFG_SIGNATURE, signature, sizeof signature);
    return signature[0] == 'Q' && signature[1] == 'E' && signature[2] == 'M' &&
           signature[3] == 'U';
}

uint16_t fw_cfg_cpu_count(void) {
    uint16_t count;  /* little endian, as the CPU */
    read_item(FW_CFG_CPU_COUNT, &count, sizeof count);
    return count;
}

uint64_t fw_cfg_ram_size(void) {
    uint64_t size;
    read_item(FW_CFG_RAM_SIZE, &size, sizeof size);
    return size;
}
