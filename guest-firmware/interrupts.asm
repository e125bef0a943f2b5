; Lesson 5: interrupts — a timer, an interrupt vector table, and KVM's in-kernel irqchip.
;
; The header below asks berth for KVM's in-kernel interrupt controllers: the 8259 PIC
; pair, the IOAPIC, a local APIC per vCPU, and the 8254 PIT timer (KVM_CREATE_IRQCHIP
; and KVM_CREATE_PIT2). Their registers are ports the guest programs like real
; hardware, but KVM emulates them inside the kernel: those in/out never reach berth.
;
; The program:
;   1. installs an interrupt handler in the real-mode interrupt vector table (IVT):
;      4 bytes per vector at address vector * 4, offset then segment;
;   2. programs the PIC so timer interrupt IRQ 0 arrives as vector 0x20 and every
;      other line is masked;
;   3. programs PIT channel 0 as a rate generator at about 100 Hz;
;   4. enables interrupts (sti) and waits in hlt, counting ticks, until 10 arrived;
;   5. writes 0 to berth's debug exit port 0x501: berth stops with status 0.
;
; What KVM does: the PIT is a kernel timer; when it fires, KVM raises IRQ 0 on its PIC,
; the PIC presents vector 0x20 to the vCPU, and KVM injects it on the next entry. While
; the guest sits in hlt, KVM parks the vCPU thread in the kernel and wakes it for the
; interrupt: no VM exit reaches berth. That is also why this lesson cannot end with
; `cli; hlt` like the others: with an in-kernel irqchip berth would never learn the
; guest halted. The debug exit port is a plain port I/O exit that berth answers by
; stopping the machine.
;
; Run it:  berth lesson 5 --trace-exits    (only the serial port and 0x501 exit)

%include "header.inc"

bits 16
org 0x7c00

    BERTH_FIRMWARE_HEADER BERTH_IRQCHIP

TIMER_VECTOR equ 0x20
TICKS        equ 10
PIT_HZ       equ 1193182        ; the PIT's input clock
TIMER_HZ     equ 100
DEBUG_EXIT   equ 0x501

PIC1_COMMAND equ 0x20
PIC1_DATA    equ 0x21
PIC2_COMMAND equ 0xa0
PIC2_DATA    equ 0xa1
PIC_EOI      equ 0x20
PIT_CHANNEL0 equ 0x40
PIT_MODE     equ 0x43

start:
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7c00

    ; 1. IVT entry for vector 0x20: offset, then segment.
    mov word [TIMER_VECTOR * 4], timer_handler
    mov word [TIMER_VECTOR * 4 + 2], 0

    ; 2. The PICs: four initialisation words each. ICW1 starts the sequence, ICW2 is
    ;    the first vector, ICW3 wires the second PIC to line 2 of the first, ICW4
    ;    selects 8086 mode. Then mask every line except IRQ 0.
    mov al, 0x11
    out PIC1_COMMAND, al
    out PIC2_COMMAND, al
    mov al, TIMER_VECTOR        ; IRQ 0-7 -> vectors 0x20-0x27
    out PIC1_DATA, al
    mov al, TIMER_VECTOR + 8    ; IRQ 8-15 -> vectors 0x28-0x2f
    out PIC2_DATA, al
    mov al, 0x04
    out PIC1_DATA, al
    mov al, 0x02
    out PIC2_DATA, al
    mov al, 0x01
    out PIC1_DATA, al
    out PIC2_DATA, al
    mov al, 0xfe                ; mask: only IRQ 0
    out PIC1_DATA, al
    mov al, 0xff
    out PIC2_DATA, al

    ; 3. PIT channel 0, low then high byte of the divisor, mode 2 (rate generator).
    mov al, 0x34
    out PIT_MODE, al
    mov ax, PIT_HZ / TIMER_HZ
    out PIT_CHANNEL0, al
    mov al, ah
    out PIT_CHANNEL0, al

    mov esi, msg_title
    call print

    ; 4. Wait for the ticks. hlt sleeps until an interrupt; the handler runs, iret
    ;    returns to the instruction after hlt.
    sti
.wait:
    hlt
    cmp word [ticks], TICKS
    jb .wait
    cli

    mov esi, msg_counted
    call print
    movzx eax, word [ticks]
    call print_u32
    mov esi, msg_done
    call print

    ; 5. Stop the machine with status 0.
    mov dx, DEBUG_EXIT
    mov al, 0
    out dx, al
.stopped:                       ; not reached: berth has stopped the vCPU
    hlt
    jmp .stopped

; The timer interrupt. The CPU pushed flags, cs and ip and cleared IF; we must keep
; every register as it was, tell the PIC we are done (end of interrupt, or it sends
; no more IRQ 0), and iret.
timer_handler:
    push ax
    push bx
    push dx
    cmp word [ticks], TICKS     ; a tick that arrives after the 10th, before the main
    jae .eoi                    ; loop's cli, is acknowledged but not counted
    inc word [ticks]
    mov al, '.'
    call putc                   ; one dot per tick
.eoi:
    mov al, PIC_EOI
    out PIC1_COMMAND, al
    pop dx
    pop bx
    pop ax
    iret

%include "serial.inc"

ticks: dw 0

msg_title:   db "Lesson 5: interrupts", 10
             db "PIT at 100 Hz through the in-kernel PIC, vector 0x20; ticks: ", 0
msg_counted: db 10, "counted ", 0
msg_done:    db " timer interrupts; the vCPU slept in the kernel between them", 10, 0
