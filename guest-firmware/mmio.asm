; Lesson 4: MMIO — a load or store to an address that is not RAM becomes a VM exit.
;
; Devices on a PC are reached two ways: port I/O (in/out, lesson 1) and memory-mapped
; I/O, where device registers sit at physical addresses and ordinary mov instructions
; reach them. For a guest, berth backs only RAM with memory (KVM memory slots). When
; the guest touches a physical address in no slot, the CPU cannot complete the access:
; the hardware exits to KVM (an EPT violation on Intel, a nested page fault on AMD),
; KVM decodes the instruction to learn the width, direction and data, and returns
; from KVM_RUN with exit reason KVM_EXIT_MMIO. berth looks up the address on its MMIO
; bus and lets the device answer; for a read, KVM writes the answer into the guest's
; register when berth calls KVM_RUN again. The guest never notices it left.
;
; berth's "mmio echo" device lives at 0xd0000000 (devices/misc/mmio_echo.hpp):
;   +0x0 ID      reads "BRTH"
;   +0x4 ECHO    write a byte, read it back upper-cased by berth
;   +0x8 WRITES  how many writes the device has seen
; 0xd0000000 is above real mode's 1 MiB reach, so we switch to protected mode first,
; exactly as in lesson 2 (flat 4 GiB segments, no paging).
;
; Run it:  berth lesson 4 --trace-exits    (counts one MMIO exit per access)

bits 16
org 0x7c00

CODE_SEG equ 0x08
DATA_SEG equ 0x10

MMIO_ECHO_BASE equ 0xd0000000
REG_ID         equ MMIO_ECHO_BASE + 0x0
REG_ECHO       equ MMIO_ECHO_BASE + 0x4
REG_WRITES     equ MMIO_ECHO_BASE + 0x8
NOWHERE        equ MMIO_ECHO_BASE + 0x1000   ; just past the device: no one answers

start:
    cli
    xor ax, ax
    mov ds, ax
    lgdt [gdt_descriptor]   ; lesson 2, compressed
    mov eax, cr0
    or eax, 1
    mov cr0, eax
    jmp CODE_SEG:protected

bits 32
protected:
    mov ax, DATA_SEG
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, 0x7c00

    mov esi, msg_title
    call print

    ; One 4-byte read: one MMIO exit. The four bytes are the device's name.
    mov eax, [REG_ID]
    mov [id_text], eax
    mov esi, msg_id
    call print
    mov esi, id_text
    call print
    mov esi, msg_newline
    call print

    ; Each byte: a write (one exit) and a read (another exit).
    mov esi, msg_echo
    call print
    mov edi, lowercase
.echo:
    mov al, [edi]
    test al, al
    jz .echoed
    mov [REG_ECHO], al      ; KVM_EXIT_MMIO, is_write=1, len=1
    mov al, [REG_ECHO]      ; KVM_EXIT_MMIO, is_write=0, len=1: berth fills al
    call putc               ; (putc leaves edi alone)
    inc edi
    jmp .echo
.echoed:
    mov esi, msg_newline
    call print

    mov esi, msg_writes
    call print
    mov eax, [REG_WRITES]
    call print_u32
    mov esi, msg_newline
    call print

    ; An address no device claims: the read still exits, and berth answers all ones,
    ; like a real bus with nothing on it.
    mov esi, msg_nowhere
    call print
    mov eax, [NOWHERE]
    call print_hex32
    mov esi, msg_newline
    call print

    cli
.halt:
    hlt
    jmp .halt

%include "serial.inc"

align 8
gdt:
    dq 0
    dq 0x00cf9a000000ffff   ; 0x08: flat 32-bit code
    dq 0x00cf92000000ffff   ; 0x10: flat data
.end:
gdt_descriptor:
    dw gdt.end - gdt - 1
    dd gdt

msg_title:   db "Lesson 4: MMIO", 10, 0
msg_id:      db "device at 0xd0000000 says: ", 0
id_text:     dd 0
             db 0
msg_echo:    db "echo through berth: ", 0
lowercase:   db "hello, mmio!", 0
msg_writes:  db "writes the device counted: ", 0
msg_nowhere: db "nothing at 0xd0001000 reads as ", 0
msg_newline: db 10, 0
