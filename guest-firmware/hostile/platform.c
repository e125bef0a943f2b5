/* COM1 output, the PM timer, the random number generator and the power switch. */
#include "hostile.h"

#define COM1 0x3f8
#define LSR_THR_EMPTY 0x20
#define PM_TIMER 0x608
#define ACPI_SLEEP_CONTROL 0x600
#define SLEEP_TYPE_S5 5
#define SLEEP_ENABLE 0x20

static void putc(char c) {
    while ((inb(COM1 + 5) & LSR_THR_EMPTY) == 0) {
    }
    outb(COM1, (uint8_t)c);
}

void print(const char* text) {
    while (*text) {
        putc(*text++);
    }
}

void print_dec(uint32_t value) {
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

void print_hex(uint32_t value) {
    print("0x");
    for (int shift = 28; shift >= 0; shift -= 4) {
        putc("0123456789abcdef"[(value >> shift) & 0xf]);
    }
}

/* The timer is 24 bits wide and wraps every ~4.7 s: add up the steps between reads.
   3580 ticks make a millisecond to within 0.02%. */
uint32_t now_ms(void) {
    static uint32_t last, ticks, ms;
    static int started;
    const uint32_t count = inl(PM_TIMER) & 0xffffff;
    if (started) {
        ticks += (count - last) & 0xffffff;
    }
    started = 1;
    last = count;
    ms += ticks / 3580;
    ticks %= 3580;
    return ms;
}

static uint32_t state = 1;

void random_seed(uint32_t seed) {
    state = seed != 0 ? seed : 1;
}

/* xorshift32 (Marsaglia, 2003). */
uint32_t random32(void) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
}

uint32_t random_below(uint32_t bound) {
    return bound == 0 ? 0 : random32() % bound;
}

uint32_t boundary32(void) {
    const uint32_t bit = 1u << random_below(32);
    switch (random_below(8)) {
        case 0:
            return 0;
        case 1:
            return 1;
        case 2:
            return 0xffffffffu;
        case 3:
            return bit;
        case 4:
            return bit - 1;
        case 5:
            return bit + 1;
        case 6:
            return 0x80000000u;
        default:
            return random32();
    }
}

void power_off(void) {
    outb(ACPI_SLEEP_CONTROL, (SLEEP_TYPE_S5 << 2) | SLEEP_ENABLE);
    for (;;) {
        __asm__ volatile("cli; hlt");
    }
}

void fill(void* to, uint8_t value, uint32_t count) {
    uint8_t* bytes = to;
    for (uint32_t i = 0; i < count; ++i) {
        bytes[i] = value;
    }
}

void copy(void* to, const void* from, uint32_t count) {
    uint8_t* out = to;
    const uint8_t* in = from;
    for (uint32_t i = 0; i < count; ++i) {
        out[i] = in[i];
    }
}
