; Lesson 2: protected mode — the GDT, segment selectors, and the switch.
;
; The CPU starts (as berth leaves it, like a PC BIOS) in 16-bit real mode: an address
; is segment * 16 + offset, so the reach is about 1 MiB, and nothing is protected.
; Protected mode replaces "segment * 16" with a lookup: a segment register holds a
; *selector*, an index into the Global Descriptor Table (GDT), and the descriptor it
; selects gives the segment's base, limit, privilege level and whether it holds 16- or
; 32-bit code. With a base of 0 and a limit of 4 GiB ("flat" segments) an address is
; just a 32-bit number.
;
; The switch takes three steps:
;   1. lgdt: tell the CPU where the GDT is;
;   2. set CR0.PE (bit 0): the CPU is now in protected mode, but CS still holds the old
;      real-mode segment, so it keeps running 16-bit code;
;   3. a far jump to selector 0x08: loading CS from the GDT makes the CPU run the
;      target as 32-bit code. Then load the data segment registers with selector 0x10.
;
; What KVM does: nothing visible. lgdt, mov to CR0 and the far jump run on the real
; CPU inside the guest (VMX/SVM let a guest change its own mode); the only VM exits
; are the port I/O of the prints below, answered by berth's 8250 UART model.
;
; Run it:  berth lesson 2    (or: berth vm run --firmware build/guest-firmware/protected-mode.bin)

bits 16
org 0x7c00

CODE_SEG equ gdt.code - gdt    ; selector 0x08: index 1, GDT, ring 0
DATA_SEG equ gdt.data - gdt    ; selector 0x10: index 2

start:
    cli                     ; no IDT for protected mode yet: keep interrupts off
    xor ax, ax
    mov ds, ax              ; lgdt reads its operand through ds
    lgdt [gdt_descriptor]   ; step 1

    mov eax, cr0
    or eax, 1               ; step 2: CR0.PE, protection enable
    mov cr0, eax

    jmp CODE_SEG:protected  ; step 3: reload CS from the GDT; 32-bit code from here

bits 32
protected:
    mov ax, DATA_SEG        ; every data segment register gets the flat data segment
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    mov esp, 0x7c00         ; the stack, now addressed with 32 bits

    mov esi, msg_title
    call print

    mov esi, msg_selectors  ; the selectors are plain numbers: index * 8
    call print
    xor eax, eax
    mov ax, cs
    call print_hex32
    mov esi, msg_ds
    call print
    xor eax, eax
    mov ax, ds
    call print_hex32
    mov esi, msg_newline
    call print

    mov esi, msg_pe
    call print
    mov eax, cr0
    and eax, 1
    add al, '0'
    call putc
    mov esi, msg_newline
    call print

    ; Real mode cannot reach 2 MiB (its top is 0x10ffef); a flat 32-bit segment can.
    mov dword [0x200000], 0xc0ffee02
    mov esi, msg_far
    call print
    mov eax, [0x200000]
    call print_hex32
    mov esi, msg_newline
    call print

    cli
.halt:
    hlt                     ; IF=0: berth sees KVM_EXIT_HLT and exits with status 0
    jmp .halt

%include "serial.inc"      ; assembled as 32-bit code: we print from protected mode

; The GDT: 8-byte descriptors. Entry 0 must be null (a selector of 0 means "none").
align 8
gdt:
    dq 0
.code:                      ; base 0, limit 0xfffff pages (4 GiB), 32-bit ring-0 code
    dw 0xffff               ; limit 15:0
    dw 0                    ; base 15:0
    db 0                    ; base 23:16
    db 10011010b            ; present, ring 0, code/data, executable, readable
    db 11001111b            ; G=1 (4 KiB units), D=1 (32-bit), limit 19:16
    db 0                    ; base 31:24
.data:                      ; the same, but a writable data segment
    dw 0xffff
    dw 0
    db 0
    db 10010010b            ; present, ring 0, code/data, writable
    db 11001111b
    db 0
.end:

gdt_descriptor:
    dw gdt.end - gdt - 1    ; limit: size - 1
    dd gdt                  ; linear address of the table

msg_title:     db "Lesson 2: protected mode", 10
               db "Running 32-bit code after lgdt, CR0.PE=1 and a far jump", 10, 0
msg_selectors: db "CS=", 0
msg_ds:        db " DS=", 0
msg_pe:        db "CR0.PE=", 0
msg_far:       db "Wrote 0xc0ffee02 at 2 MiB (out of real mode's reach), read back ", 0
msg_newline:   db 10, 0
