/* Lesson 8: the few lines that must be assembly. The Multiboot header that tells a
   boot loader (berth, QEMU, GRUB) this file is a kernel; the entry point, which only
   needs a stack before C can run; the interrupt entry stubs, which save registers
   and call C; and the trampoline that each other CPU starts in, in real mode. */

#define MULTIBOOT_MAGIC 0x1badb002
#define MULTIBOOT_FLAGS 0x00000003 /* modules page-aligned, memory information */

    .section .multiboot, "a"
    .align 4
    .long MULTIBOOT_MAGIC
    .long MULTIBOOT_FLAGS
    .long -(MULTIBOOT_MAGIC + MULTIBOOT_FLAGS)

    .text
    .globl _start
_start:
    /* 32-bit protected mode, paging off, interrupts off. EAX = 0x2BADB002, EBX = the
       Multiboot information; no stack yet. */
    mov $boot_stack_top, %esp
    push %ebx
    push %eax
    call kernel_main
halt_forever:
    cli
    hlt
    jmp halt_forever

/* Interrupt entry: the CPU pushes EFLAGS, CS, EIP and, for some exceptions, an error
   code. Every stub makes the frame the same (a 0 where there is no error code), adds
   its vector, saves the general registers and calls interrupt_handler(frame). */
.macro stub vector, has_error_code
interrupt_stub_\vector:
    .if \has_error_code == 0
    push $0
    .endif
    push $\vector
    jmp interrupt_common
.endm

interrupt_common:
    pusha
    push %esp          /* the frame's address: interrupt_handler's argument */
    call interrupt_handler
    add $4, %esp
    popa
    add $8, %esp       /* the vector and the error code */
    iret

/* The 32 exception vectors; 8, 10-14 and 17 push an error code. */
stub 0, 0
stub 1, 0
stub 2, 0
stub 3, 0
stub 4, 0
stub 5, 0
stub 6, 0
stub 7, 0
stub 8, 1
stub 9, 0
stub 10, 1
stub 11, 1
stub 12, 1
stub 13, 1
stub 14, 1
stub 15, 0
stub 16, 0
stub 17, 1
stub 18, 0
stub 19, 0
stub 20, 0
stub 21, 0
stub 22, 0
stub 23, 0
stub 24, 0
stub 25, 0
stub 26, 0
stub 27, 0
stub 28, 0
stub 29, 0
stub 30, 0
stub 31, 0

    .section .rodata
    .globl interrupt_stubs
interrupt_stubs:
    .irp vector, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .long interrupt_stub_\vector
    .endr

/* The application processors' first instructions. A CPU woken by a startup IPI with
   vector V starts in real mode at V * 4096 (CS = V * 256, IP = 0), so this code is
   copied below 1 MiB (smp.c puts it at 0x8000) and must not depend on where it was
   linked: every address it uses is an offset from trampoline_start plus that base. */
#define TRAMPOLINE_BASE 0x8000
#define AT_BASE(label) ((label) - trampoline_start + TRAMPOLINE_BASE)

    .section .rodata
    .globl trampoline_start, trampoline_end, trampoline_gdtr
    .code16
trampoline_start:
    cli
    xor %ax, %ax
    mov %ax, %ds
    lgdtl AT_BASE(trampoline_gdtr)    /* the kernel's GDT (smp.c fills this in) */
    mov %cr0, %eax
    or $1, %eax                       /* PE: protected mode */
    mov %eax, %cr0
    ljmpl $0x08, $AT_BASE(trampoline_32)
    .code32
trampoline_32:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %ax, %ax
    mov %ax, %fs
    mov %ax, %gs
    mov ap_stack_top, %esp            /* the kernel's own variables: flat 32-bit now */
    mov $ap_main, %eax                /* an absolute call: a relative one would be */
    call *%eax                        /* relative to this copy, not to the kernel */
1:  cli
    hlt
    jmp 1b
    .align 4
trampoline_gdtr:
    .word 0                           /* limit */
    .long 0                           /* base */
trampoline_end:

    .bss
    .align 16
    .skip 16384
boot_stack_top:

    /* No executable stack. */
    .section .note.GNU-stack, "", @progbits
