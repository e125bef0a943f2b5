; Lesson 3: long mode — page tables, PAE, EFER.LME, and the jump to 64-bit code.
;
; 64-bit mode ("long mode") cannot run without paging, and its paging is the 4-level
; PAE format: CR3 points at a PML4 table, whose entries point at page-directory-pointer
; tables (PDPT), then page directories (PD), then page tables. Each table is one 4 KiB
; page of 512 8-byte entries. An entry in a PD with the PS bit set maps a whole 2 MiB
; page directly, which is all we need: one PML4 entry, one PDPT entry and a PD of 512
; such entries identity-map the first 1 GiB (virtual address = physical address, so
; the code keeps running where it is when paging switches on).
;
; The way in, from 32-bit protected mode (lesson 2):
;   1. build the tables;
;   2. CR4.PAE = 1 (the 64-bit entry format); CR3 = the PML4's physical address;
;   3. EFER.LME = 1 (EFER is model-specific register 0xC0000080, written with wrmsr);
;   4. CR0.PG = 1: paging is on, and because LME is set the CPU enters long mode and
;      sets EFER.LMA ("long mode active") itself; it still runs the 32-bit code
;      segment, in "compatibility mode";
;   5. a far jump to a code segment whose descriptor has L=1: 64-bit code from here.
;
; What KVM does: the switch runs on the real CPU. KVM checks that EFER.LME is allowed
; (the guest's CPUID must report long mode, which is why berth gives the vCPU the
; host-supported CPUID) and, with EPT/NPT, translates the guest's physical addresses
; to host memory under the guest's own page tables. wrmsr of EFER and rdmsr below are
; handled inside KVM: no exit to berth. The only exits are the serial port's.
;
; Run it:  berth lesson 3    (or: berth vm run --firmware build/guest-firmware/long-mode.bin)

bits 16
org 0x7c00

CODE32_SEG equ gdt.code32 - gdt   ; 0x08
DATA_SEG   equ gdt.data - gdt     ; 0x10
CODE64_SEG equ gdt.code64 - gdt   ; 0x18

PML4 equ 0x1000             ; three page-aligned pages of free RAM below the code
PDPT equ 0x2000
PD   equ 0x3000
PRESENT_WRITABLE equ 0x3
HUGE_PAGE        equ 0x80   ; PS: this PD entry maps 2 MiB itself

EFER     equ 0xc0000080
EFER_LME equ 1 << 8
EFER_LMA equ 1 << 10
CR4_PAE  equ 1 << 5
CR0_PG   equ 1 << 31

start:
    cli
    xor ax, ax
    mov ds, ax
    lgdt [gdt_descriptor]   ; as in lesson 2, with one more descriptor: 64-bit code
    mov eax, cr0
    or eax, 1
    mov cr0, eax
    jmp CODE32_SEG:protected

bits 32
protected:
    mov ax, DATA_SEG
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, 0x7c00

    ; 1. Page tables. Clear the three pages (guest RAM starts zeroed, but a program
    ;    should not count on it), then link PML4[0] -> PDPT -> PD.
    mov edi, PML4
    mov ecx, 3 * 4096 / 4
    xor eax, eax
    rep stosd
    mov dword [PML4], PDPT | PRESENT_WRITABLE
    mov dword [PDPT], PD | PRESENT_WRITABLE
    mov edi, PD             ; PD[i] maps [i * 2 MiB, +2 MiB) onto itself
    mov eax, PRESENT_WRITABLE | HUGE_PAGE
    mov ecx, 512
.map:
    mov [edi], eax          ; low half; the high half stays 0 (below 4 GiB)
    add eax, 0x200000
    add edi, 8
    dec ecx
    jnz .map

    ; 2. PAE and the root of the tables.
    mov eax, cr4
    or eax, CR4_PAE
    mov cr4, eax
    mov eax, PML4
    mov cr3, eax

    ; 3. Long mode enable, in EFER.
    mov ecx, EFER
    rdmsr                   ; edx:eax = EFER
    or eax, EFER_LME
    wrmsr

    ; 4. Paging on: long mode is now active (compatibility mode).
    mov eax, cr0
    or eax, CR0_PG
    mov cr0, eax

    ; 5. Into 64-bit code.
    jmp CODE64_SEG:long_mode

bits 64
long_mode:
    ; Segment bases and limits are ignored in 64-bit mode (except fs and gs); the
    ; selectors we loaded stay valid. The stack pointer is now rsp.
    mov esi, msg_title
    call print

    mov esi, msg_efer
    call print
    mov ecx, EFER
    rdmsr
    call print_hex32        ; LME (bit 8) that we set, LMA (bit 10) that the CPU set
    mov esi, msg_efer_bits
    call print

    mov esi, msg_rip
    call print
    lea rax, [rel long_mode]  ; RIP-relative addressing exists only in 64-bit mode
    call print_hex32
    mov esi, msg_newline
    call print

    ; Registers are 64 bits wide now: 2^32 + 42 does not fit in 32 bits.
    mov rax, (1 << 32) + 42
    mov r15, rax            ; r8-r15 are new in long mode too
    mov esi, msg_wide
    call print
    mov rax, r15
    shr rax, 32
    call print_hex32        ; high half
    mov esi, msg_low
    call print
    mov eax, r15d
    call print_hex32        ; low half
    mov esi, msg_newline
    call print

    cli
.halt:
    hlt                     ; IF=0: berth sees KVM_EXIT_HLT and exits with status 0
    jmp .halt

%include "serial.inc"      ; assembled as 64-bit code: we print from long mode

align 8
gdt:
    dq 0
.code32:                    ; flat 32-bit ring-0 code, as in lesson 2
    dq 0x00cf9a000000ffff
.data:                      ; flat writable data
    dq 0x00cf92000000ffff
.code64:                    ; 64-bit code: L=1 (bit 53) and D=0; base and limit unused
    dq 0x00af9a000000ffff
.end:

gdt_descriptor:
    dw gdt.end - gdt - 1
    dd gdt

msg_title:     db "Lesson 3: long mode", 10
               db "Running 64-bit code after PAE paging, EFER.LME, CR0.PG and a far jump", 10, 0
msg_efer:      db "EFER=", 0
msg_efer_bits: db " (LME set by the guest, LMA set by the CPU)", 10, 0
msg_rip:       db "RIP=", 0
msg_wide:      db "rax=2^32+42: high half ", 0
msg_low:       db ", low half ", 0
msg_newline:   db 10, 0
