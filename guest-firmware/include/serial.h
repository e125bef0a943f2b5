/* COM1, the PC's first serial port, for the guests written in C (lesson8,
   multiboot-info, hostile): common/serial.c drives its 8250/16550 UART by polling.
   berth (like QEMU) connects the port to its stdout. */
#pragma once

#include <stdint.h>

/* Divisor, 8N1, FIFOs: what a real UART needs before it sends. berth's UART sends
   without it, so the test guests skip it (their port-write counts stay small). */
void serial_init(void);
void serial_print(const char* text);
void serial_print_dec(uint32_t value);
/* "0x" and all eight digits: columns that line up. */
void serial_print_hex(uint32_t value);
/* "0x" and the digits without leading zeros: a 64-bit value as a person writes it. */
void serial_print_hex_short(uint64_t value);
/* One CPU at a time prints a whole line (lesson8's SMP): a spinlock around the port. */
void serial_lock(void);
void serial_unlock(void);
