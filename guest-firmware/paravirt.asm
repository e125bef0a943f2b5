; Lesson 6: a paravirtual device — a ring of buffers shared by guest and berth.
;
; Emulating real hardware is slow when the hardware was designed for a CPU, not for a
; hypervisor: lesson 1's UART costs two VM exits per character (poll the status
; register, write the data register). A paravirtual device drops the pretence. Guest
; and host agree on a data structure in guest RAM and the guest exits only to say
; "look now". This is how virtio works; berth's "pv console" is the idea cut down to
; its bones (devices/misc/pv_console.hpp):
;
;   port 0x520  RING    the guest-physical address of the ring
;   port 0x524  NOTIFY  any write: consume every published buffer
;   port 0x528  STATUS  0 ok, 3 = a buffer pointed outside RAM
;   ring:  u16 size, u16 avail (guest counts published buffers), u16 used (berth counts
;          consumed ones), u16 0, then `size` descriptors {u64 address, u32 length,
;          u32 result}; berth writes the bytes it consumed, or 0xffffffff, in result.
;
; What berth does on NOTIFY: it reads the ring and each buffer through GuestMemory,
; which checks every address against guest RAM. A guest that lies (here, on purpose, a
; buffer at 0xfff00000) gets that buffer refused; berth keeps running.
; What KVM does: one KVM_EXIT_IO per notify, whatever the amount of data.
;
; Run it:  berth lesson 6 --trace-exits    (port 0x524: 2 exits for 4 + 1 buffers)

bits 16
org 0x7c00

PV_RING    equ 0x520
PV_NOTIFY  equ 0x524
PV_STATUS  equ 0x528

RING       equ 0x1000           ; free RAM below the program, 8-byte aligned
RING_SIZE  equ 8
RING_AVAIL equ RING + 2
RING_USED  equ RING + 4
DESC       equ RING + 8         ; descriptor i at DESC + 16 * i
DESC_ADDR   equ 0
DESC_LEN    equ 8
DESC_RESULT equ 12

; publish INDEX, ADDRESS, LENGTH: fills descriptor INDEX (the ring has room for all
; buffers here, so buffer number == descriptor index).
%macro publish 3
    mov dword [DESC + 16 * %1 + DESC_ADDR], %2
    mov dword [DESC + 16 * %1 + DESC_ADDR + 4], 0
    mov dword [DESC + 16 * %1 + DESC_LEN], %3
%endmacro

start:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax

    ; The ring header: size, and both counters at 0.
    mov word [RING], RING_SIZE
    mov word [RING_AVAIL], 0
    mov word [RING_USED], 0
    mov dx, PV_RING             ; tell berth where it is (one exit)
    mov eax, RING
    out dx, eax

    ; Four buffers, then one notify: four lines printed for one VM exit.
    publish 0, line1, line1.len
    publish 1, line2, line2.len
    publish 2, line3, line3.len
    publish 3, line4, line4.len
    mov word [RING_AVAIL], 4    ; publish after the descriptors are complete
    mov dx, PV_NOTIFY
    out dx, al

    ; berth has updated `used` and each result in our memory.
    mov esi, msg_used
    call print
    movzx eax, word [RING_USED]
    call print_u32
    mov esi, msg_bytes
    call print
    mov eax, [DESC + 0 * 16 + DESC_RESULT]
    add eax, [DESC + 1 * 16 + DESC_RESULT]
    add eax, [DESC + 2 * 16 + DESC_RESULT]
    add eax, [DESC + 3 * 16 + DESC_RESULT]
    call print_u32
    mov esi, msg_one_exit
    call print

    ; A buffer outside guest RAM: berth must refuse it, not read host memory.
    publish 4, 0xfff00000, 16
    mov word [RING_AVAIL], 5
    mov dx, PV_NOTIFY
    out dx, al
    mov esi, msg_refused
    call print
    mov dx, PV_STATUS
    in eax, dx
    call print_u32
    mov esi, msg_result
    call print
    mov eax, [DESC + 4 * 16 + DESC_RESULT]
    call print_hex32
    mov esi, msg_newline
    call print

    cli
.halt:
    hlt
    jmp .halt

%include "serial.inc"

line1: db "Lesson 6: a paravirtual console", 10
.len equ $ - line1
line2: db "These lines went into buffers in guest memory,", 10
.len equ $ - line2
line3: db "were published in a ring, and reached berth", 10
.len equ $ - line3
line4: db "with a single VM exit.", 10
.len equ $ - line4

msg_used:     db "berth consumed ", 0
msg_bytes:    db " buffers, ", 0
msg_one_exit: db " bytes, for one notify", 10, 0
msg_refused:  db "a buffer at 0xfff00000 (outside RAM) was refused: status ", 0
msg_result:   db ", result ", 0
msg_newline:  db 10, 0
