/* Lesson 8: waking the other CPUs. At power-on only the bootstrap processor (BSP)
   runs; the application processors (APs) wait for the BSP to send each one an INIT
   and then a STARTUP inter-processor interrupt through its local APIC. STARTUP's
   vector V starts the AP in real mode at address V * 4096: the trampoline (boot.S)
   must be there, below 1 MiB. berth numbers the CPUs' APIC IDs 0 to N-1, as its ACPI
   MADT says (a kernel for any PC would read them from there). */
#include "kernel.h"

#define LAPIC_BASE 0xfee00000
#define LAPIC_ID 0x020
#define LAPIC_SPURIOUS 0x0f0     /* bit 8: the APIC is enabled */
#define LAPIC_ICR_LOW 0x300      /* writing it sends the IPI */
#define LAPIC_ICR_HIGH 0x310     /* bits 24-31: the destination's APIC ID */
#define ICR_INIT 0x00004500      /* delivery mode INIT, level assert */
#define ICR_STARTUP 0x00004600   /* delivery mode STARTUP, level assert; | vector */
#define ICR_PENDING (1u << 12)   /* delivery status: still being sent */

#define TRAMPOLINE_BASE 0x8000   /* boot.S's TRAMPOLINE_BASE; STARTUP vector 0x08 */
#define MAX_CPUS 16
#define AP_STACK_SIZE 4096

extern const char trampoline_start[], trampoline_end[], trampoline_gdtr[];  /* boot.S */

/* The stack the next AP starts on: boot.S's trampoline loads it into ESP. */
volatile uint32_t ap_stack_top;
static uint8_t ap_stacks[MAX_CPUS][AP_STACK_SIZE] __attribute__((aligned(16)));
static volatile uint32_t cpus_running = 1;  /* the BSP */

uint32_t lapic_id(void) {
    return mmio_read(LAPIC_BASE + LAPIC_ID) >> 24;
}

static void lapic_enable(void) {
    mmio_write(LAPIC_BASE + LAPIC_SPURIOUS, mmio_read(LAPIC_BASE + LAPIC_SPURIOUS) | 0x1ff);
}

static void send_ipi(uint32_t apic_id, uint32_t command) {
    mmio_write(LAPIC_BASE + LAPIC_ICR_HIGH, apic_id << 24);
    mmio_write(LAPIC_BASE + LAPIC_ICR_LOW, command);
    while (mmio_read(LAPIC_BASE + LAPIC_ICR_LOW) & ICR_PENDING) {
        pause();
    }
}

/* Where each AP arrives from the trampoline: in protected mode, on its own stack. */
void ap_main(void) {
    gdt_load();
    idt_load();
    lapic_enable();
    serial_lock();
    serial_print("Hello from CPU ");
    serial_print_dec(lapic_id());
    serial_print("\n");
    serial_unlock();
    __atomic_add_fetch(&cpus_running, 1, __ATOMIC_RELEASE);
    for (;;) {
        __asm__ volatile("cli; hlt");
    }
}

void smp_start_cpus(uint32_t count) {
    if (count > MAX_CPUS) {
        count = MAX_CPUS;
    }
    lapic_enable();
    /* The trampoline below 1 MiB, with the kernel's GDT pointer in it. */
    const uint32_t size = (uint32_t)(trampoline_end - trampoline_start);
    for (uint32_t i = 0; i < size; ++i) {
        ((volatile uint8_t*)TRAMPOLINE_BASE)[i] = (uint8_t)trampoline_start[i];
    }
    __asm__ volatile("sgdt %0"
                     : "=m"(*(volatile uint8_t(*)[6])(TRAMPOLINE_BASE +
                                                     (trampoline_gdtr - trampoline_start))));
    /* One AP at a time: each needs its own stack in ap_stack_top until it is up. */
    for (uint32_t cpu = 1; cpu < count; ++cpu) {
        ap_stack_top = (uint32_t)&ap_stacks[cpu][AP_STACK_SIZE];
        send_ipi(cpu, ICR_INIT);
        send_ipi(cpu, ICR_STARTUP | (TRAMPOLINE_BASE >> 12));
        uint32_t spins = 0;
        while (__atomic_load_n(&cpus_running, __ATOMIC_ACQUIRE) < cpu + 1) {
            if (++spins == 1u << 28) {
                serial_lock();
                serial_print("CPU ");
                serial_print_dec(cpu);
                serial_print(" did not start\n");
                serial_unlock();
                return;
            }
            pause();
        }
    }
}
