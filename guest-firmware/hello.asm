; Lesson 1: real mode and port I/O.
;
; The smallest useful guest. berth loads this flat binary at 0000:7C00 (where a PC
; BIOS puts a boot sector) and starts the vCPU there in 16-bit real mode. The program
; sets up COM1, the 8250 UART at port 0x3f8, prints a greeting one byte at a time,
; and halts with interrupts off.
;
; Every `in` and `out` below leaves the guest: the CPU stops running guest code,
; KVM returns from the KVM_RUN ioctl with exit reason KVM_EXIT_IO, and berth's port
; I/O bus hands the access to its UART model. `berth vm run --trace-exits` counts them:
; 4 writes to set up the line, then per character one read of the line status register
; (0x3fd) and one write to the data register (0x3f8).

bits 16
org 0x7c00

COM1       equ 0x3f8
DATA       equ COM1 + 0   ; transmit holding register (divisor low byte when DLAB=1)
DIVISOR_HI equ COM1 + 1   ; divisor high byte when DLAB=1
LINE_CTRL  equ COM1 + 3   ; LCR: bit 7 (DLAB) exposes the divisor latch
LINE_STAT  equ COM1 + 5   ; LSR: bit 5 set when the transmitter can take a byte

start:
    cli                     ; nothing here handles interrupts
    xor ax, ax
    mov ds, ax              ; the string is addressed from segment 0
    cld

    ; 115200 baud, 8 data bits, no parity, 1 stop bit (8N1). Four port writes.
    mov dx, LINE_CTRL
    mov al, 0x80            ; DLAB=1
    out dx, al
    mov dx, DATA
    mov al, 1               ; divisor 1 = 115200 baud
    out dx, al
    mov dx, DIVISOR_HI
    xor al, al
    out dx, al
    mov dx, LINE_CTRL
    mov al, 0x03            ; DLAB=0, 8N1
    out dx, al

    mov si, greeting
.next_char:
    lodsb                   ; al = [ds:si], si++
    test al, al
    jz .done
    mov bl, al
    mov dx, LINE_STAT
.wait_ready:
    in al, dx               ; poll until the transmitter is empty
    test al, 0x20
    jz .wait_ready
    mov dx, DATA
    mov al, bl
    out dx, al
    jmp .next_char

.done:
    hlt                     ; with IF=0 this ends the run: berth exits with status 0
    jmp .done               ; (an NMI could wake us; halt again)

greeting: db "Hello from the berth guest firmware!", 10, 0
