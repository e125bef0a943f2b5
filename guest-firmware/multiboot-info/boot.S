/* The Multiboot header and entry of the test kernel. With ADDRESS_FIELDS the header
   also carries the load addresses (flags bit 16), for the flat-binary variant. */
#define MAGIC 0x1badb002
#ifdef ADDRESS_FIELDS
#define FLAGS 0x00010003 /* page-aligned modules, memory info, address fields */
#else
#define FLAGS 0x00000003 /* page-aligned modules, memory info */
#endif

    .section .multiboot, "a"
    .align 4
header:
    .long MAGIC
    .long FLAGS
    .long -(MAGIC + FLAGS)
#ifdef ADDRESS_FIELDS
    .long header         /* header_addr */
    .long image_start    /* load_addr */
    .long data_end       /* load_end_addr */
    .long bss_end        /* bss_end_addr */
    .long _start         /* entry_addr */
#endif

    .text
    .globl _start
_start:
    /* EAX holds the boot loader's magic, EBX the information structure. */
    mov $stack_top, %esp
    push %ebx
    push %eax
    call kernel_main
halt:
    cli
    hlt
    jmp halt

    .bss
    .align 16
    .skip 16384
stack_top:

    /* No executable stack. */
    .section .note.GNU-stack, "", @progbits
