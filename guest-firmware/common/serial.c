/* A driver for the 8250 UART on COM1, the PC's first serial port, shared by our guests in
   C (lesson 8 explains it). Its eight registers sit at 0x3f8-0x3ff; berth (like QEMU)
   connects the port to its stdout. */
#include "serial.h"

#include "port_io.h"

#define COM1 0x3f8
#define THR 0 /* transmit holding register (write) */
#define IER 1 /* interrupt enable */
#define FCR 2 /* FIFO control (write) */
#define LCR 3 /* line control: word length, parity, stop bits, DLAB */
#define MCR 4 /* modem control */
#define LSR 5 /* line status */
#define DLL 0 /* divisor latch, low byte (with DLAB set) */
#define DLM 1 /* divisor latch, high byte (with DLAB set) */

#define LCR_8N1 0x03
#define LCR_DLAB 0x80
#define LSR_THR_EMPTY 0x20

static volatile uint32_t lock;

/* "I am spinning" to the CPU (and to a hypervisor that watches for it). */
static inline void pause(void) {
    __asm__ volatile("pause" ::: "memory");
}

void serial_init(void) {
    outb(COM1 + IER, 0);              /* no interrupts: the driver polls */
    outb(COM1 + LCR, LCR_DLAB);       /* the divisor: 115200 / 1 baud */
    outb(COM1 + DLL, 1);
    outb(COM1 + DLM, 0);
    outb(COM1 + LCR, LCR_8N1);        /* 8 data bits, no parity, 1 stop bit */
    outb(COM1 + FCR, 0x07);           /* FIFOs on and cleared */
    outb(COM1 + MCR, 0x03);           /* DTR and RTS: "we are here" */
}

static void put(char c) {
    while ((inb(COM1 + LSR) & LSR_THR_EMPTY) == 0) {
        pause();
    }
    outb(COM1 + THR, (uint8_t)c);
}

void serial_print(const char* text) {
    for (; *text != 0; ++text) {
        put(*text);
    }
}

void serial_print_dec(uint32_t value) {
    char digits[10];
    int count = 0;
    do {
        digits[count++] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    while (count > 0) {
        put(digits[--count]);
    }
}

static void print_hex_from(uint64_t value, int shift) {
    serial_print("0x");
    for (; shift >= 0; shift -= 4) {
        put("0123456789abcdef"[(value >> shift) & 0xf]);
    }
}

void serial_print_hex(uint32_t value) {
    print_hex_from(value, 28);
}

void serial_print_hex_short(uint64_t value) {
    int shift = 60;
    while (shift > 0 && ((value >> shift) & 0xf) == 0) {
        shift -= 4;
    }
    print_hex_from(value, shift);
}

void serial_lock(void) {
    while (__atomic_exchange_n(&lock, 1, __ATOMIC_ACQUIRE) != 0) {
        pause();
    }
}

void serial_unlock(void) {
    __atomic_store_n(&lock, 0, __ATOMIC_RELEASE);
}
