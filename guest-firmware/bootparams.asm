; Lesson 7: what the VMM must set up before Linux can boot.
;
; This file is a bzImage in miniature: berth's Linux loader (`berth vm run --kernel`)
; cannot tell it from a real kernel. It has the two parts every bzImage has:
;
;   1. The real-mode setup sectors. Their only job here is the setup header at 0x1f1
;      (Documentation/arch/x86/boot.rst, "The real-mode kernel header"): the boot
;      sector signature, "HdrS", the protocol version, and the fields a 64-bit boot
;      loader reads: setup_sects, syssize, loadflags, xloadflags, init_size...
;   2. The protected-mode part, which the loader copies to 1 MiB. A real kernel keeps
;      its 32-bit entry at its start and its 64-bit entry 0x200 further on; so does
;      this one.
;
; berth jumps to the 64-bit entry with paging on (an identity map), a GDT, a stack,
; interrupts off and RSI pointing at the zero page (struct boot_params). That page is
; everything the kernel learns about the machine without a BIOS: the e820 memory map,
; where the command line and the initrd are. This guest prints those fields over COM1
; (polling the UART's line status register: no interrupts needed) and stops the
; machine through the debug-exit port 0x501.

; boot_params offsets (boot.rst, "The zero page"; arch/x86/include/uapi/asm/bootparam.h).
BP_ACPI_RSDP      equ 0x070   ; u64
BP_EXT_RAMDISK    equ 0x0c0   ; u32: bits 32-63 of ramdisk_image
BP_EXT_RAMDISK_SZ equ 0x0c4   ; u32: bits 32-63 of ramdisk_size
BP_EXT_CMDLINE    equ 0x0c8   ; u32: bits 32-63 of cmd_line_ptr
BP_E820_ENTRIES   equ 0x1e8   ; u8
BP_RAMDISK_IMAGE  equ 0x218   ; u32 (setup header field, copied into the zero page)
BP_RAMDISK_SIZE   equ 0x21c   ; u32
BP_CMD_LINE_PTR   equ 0x228   ; u32
BP_TYPE_OF_LOADER equ 0x210   ; u8
BP_E820_TABLE     equ 0x2d0   ; 128 entries of {u64 addr, u64 size, u32 type}
E820_ENTRY_SIZE   equ 20

COM1     equ 0x3f8
COM1_LSR equ COM1 + 5
LSR_THRE equ 1 << 5           ; transmit holding register empty
DEBUG_EXIT equ 0x501

SETUP_SECTS equ 1             ; setup sectors after the boot sector

; ---------------------------------------------------------------------------------
; Part 1: the boot sector and the setup sector (loaded by a BIOS boot loader at some
; real-mode segment; berth never runs them, it only reads the header).
section setup start=0 vstart=0
bits 16
boot_sector:
    ; A real bzImage prints "use a boot loader" here when a BIOS boots it directly.
    cli
.halt:
    hlt
    jmp .halt

    times 0x1f1 - ($ - $$) db 0
hdr:
setup_sects:    db SETUP_SECTS
root_flags:     dw 0
syssize:        dd (kernel_end - kernel_start) / 16   ; protected-mode part, 16-byte units
ram_size:       dw 0
vid_mode:       dw 0
root_dev:       dw 0
boot_flag:      dw 0xaa55                             ; at 0x1fe, the boot sector signature
; 0x200: the setup code's entry. The jump's one-byte offset doubles as the header's
; length: the header ends where the jump lands (0x202 + that byte).
                jmp short setup_code
header_magic:   db "HdrS"                             ; 0x202
version:        dw 0x020f                             ; boot protocol 2.15
realmode_swtch: dd 0
start_sys_seg:  dw 0x1000
kernel_version: dw 0
type_of_loader: db 0                                  ; the boot loader writes its id here
loadflags:      db 0x01                               ; LOADED_HIGH: protected-mode part at 1 MiB
setup_move_size: dw 0
code32_start:   dd 0x100000
ramdisk_image:  dd 0                                  ; the loader fills these in
ramdisk_size:   dd 0
bootsect_kludge: dd 0
heap_end_ptr:   dw 0
ext_loader_ver: db 0
ext_loader_type: db 0
cmd_line_ptr:   dd 0
initrd_addr_max: dd 0x7fffffff                        ; highest byte an initrd may use
kernel_alignment: dd 0x200000
relocatable_kernel: db 1                              ; may be loaded elsewhere than pref_address
min_alignment:  db 21                                 ; 2 MiB, as a power of two
xloadflags:     dw 0x0001                             ; XLF_KERNEL_64: 64-bit entry at +0x200
cmdline_size:   dd 2047                               ; longest command line, without the NUL
hardware_subarch: dd 0                                ; a normal PC
hardware_subarch_data: dq 0
payload_offset: dd 0                                  ; no compressed payload: nothing to unpack
payload_length: dd 0
setup_data:     dq 0
pref_address:   dq 0x100000
init_size:      dd 0x10000                            ; memory the "kernel" needs from its load address
handover_offset: dd 0
kernel_info_offset: dd 0
setup_code:
    ; Reached only if a BIOS-era loader ran the setup code; berth never does.
    cli
.halt:
    hlt
    jmp .halt

    times (SETUP_SECTS + 1) * 512 - ($ - $$) db 0

; ---------------------------------------------------------------------------------
; Part 2: the protected-mode part, copied by berth to 1 MiB.
section kernel follows=setup vstart=0x100000
kernel_start:
bits 32
startup_32:
    ; The 32-bit entry (code32_start) for 32-bit boot loaders; berth uses the 64-bit one.
    cli
.halt:
    hlt
    jmp .halt

    times 0x200 - ($ - $$) db 0
bits 64
default rel
startup_64:                                 ; 1 MiB + 0x200: where berth jumps
    mov rbx, rsi                            ; rbx = boot_params for the rest of the run

    lea rsi, [msg_title]
    call puts
    lea rsi, [msg_zero_page]
    call puts
    mov rax, rbx
    call put_hex
    lea rsi, [msg_loader]
    call puts
    movzx rax, byte [rbx + BP_TYPE_OF_LOADER]
    call put_hex8
    call newline

    ; The e820 map: the RAM the guest may use and what it must leave alone. Without a
    ; BIOS to ask (int 0x15, eax=0xe820), the kernel has only this table.
    lea rsi, [msg_e820]
    call puts
    movzx rax, byte [rbx + BP_E820_ENTRIES]
    mov r12, rax                            ; r12 = entries left
    call put_dec
    call newline
    lea r13, [rbx + BP_E820_TABLE]          ; r13 = the current entry
    xor r14, r14                            ; r14 = its index
.entry:
    test r12, r12
    jz .e820_done
    lea rsi, [msg_e820_index]
    call puts
    mov rax, r14
    call put_dec
    lea rsi, [msg_addr]
    call puts
    mov rax, [r13]
    call put_hex
    lea rsi, [msg_size]
    call puts
    mov rax, [r13 + 8]
    call put_hex
    lea rsi, [msg_type]
    call puts
    mov eax, [r13 + 16]
    call put_dec
    lea rsi, [msg_ram]                      ; type 1: usable RAM
    cmp dword [r13 + 16], 1
    je .type_name
    lea rsi, [msg_reserved]                 ; 2: reserved; others: ACPI, NVS, bad...
    cmp dword [r13 + 16], 2
    je .type_name
    lea rsi, [msg_other]
.type_name:
    call puts
    call newline
    add r13, E820_ENTRY_SIZE
    inc r14
    dec r12
    jmp .entry
.e820_done:

    ; The command line: a physical address (low 32 bits in the header, high 32 bits in
    ; ext_cmd_line_ptr) of a NUL-terminated string.
    mov eax, [rbx + BP_EXT_CMDLINE]
    shl rax, 32
    mov ecx, [rbx + BP_CMD_LINE_PTR]
    or rax, rcx
    mov r12, rax
    lea rsi, [msg_cmdline_at]
    call puts
    mov rax, r12
    call put_hex
    call newline
    lea rsi, [msg_cmdline]
    call puts
    test r12, r12
    jz .no_cmdline
    mov rsi, r12
    call puts
.no_cmdline:
    mov al, '"'
    call putc
    call newline

    ; The initrd, split the same way.
    mov eax, [rbx + BP_EXT_RAMDISK_SZ]
    shl rax, 32
    mov ecx, [rbx + BP_RAMDISK_SIZE]
    or rax, rcx
    mov r12, rax                            ; r12 = size
    lea rsi, [msg_initrd]
    call puts
    test r12, r12
    jnz .initrd
    lea rsi, [msg_none]
    call puts
    jmp .initrd_done
.initrd:
    lea rsi, [msg_addr_first]
    call puts
    mov eax, [rbx + BP_EXT_RAMDISK]
    shl rax, 32
    mov ecx, [rbx + BP_RAMDISK_IMAGE]
    or rax, rcx
    call put_hex
    lea rsi, [msg_size]
    call puts
    mov rax, r12
    call put_hex
.initrd_done:
    call newline

    ; The ACPI root pointer: where the kernel finds the MADT (CPUs) and the DSDT.
    lea rsi, [msg_rsdp]
    call puts
    mov rax, [rbx + BP_ACPI_RSDP]
    call put_hex
    call newline

    mov dx, DEBUG_EXIT                      ; berth stops with the byte written: 0
    xor eax, eax
    out dx, al
.halt:
    hlt                                     ; not reached
    jmp .halt

; putc: writes al to COM1 once the transmitter has room.
putc:
    push rdx
    push rax
    mov dx, COM1_LSR
.wait:
    in al, dx
    test al, LSR_THRE
    jz .wait
    pop rax
    mov dx, COM1
    out dx, al
    pop rdx
    ret

; puts: writes the NUL-terminated string at rsi.
puts:
    push rax
.next:
    lodsb
    test al, al
    jz .done
    call putc
    jmp .next
.done:
    pop rax
    ret

newline:
    push rax
    mov al, 10
    call putc
    pop rax
    ret

; put_hex: writes rax as 0x and 16 hex digits.
put_hex:
    mov ecx, 16
    jmp put_hex_digits
; put_hex8: writes al as 0x and 2 hex digits.
put_hex8:
    shl rax, 56
    mov ecx, 2
put_hex_digits:
    push rax
    mov al, '0'
    call putc
    mov al, 'x'
    call putc
    pop rax
.digit:
    rol rax, 4
    push rax
    and al, 0x0f
    add al, '0'
    cmp al, '9'
    jbe .print
    add al, 'a' - '0' - 10
.print:
    call putc
    pop rax
    dec ecx
    jnz .digit
    ret

; put_dec: writes rax in decimal.
put_dec:
    push rbx
    mov rbx, 10
    xor ecx, ecx                            ; digits pushed
.divide:
    xor edx, edx
    div rbx
    push rdx
    inc ecx
    test rax, rax
    jnz .divide
.pop:
    pop rax
    add al, '0'
    call putc
    dec ecx
    jnz .pop
    pop rbx
    ret

msg_title:      db "Lesson 7: the boot_params berth gave this kernel", 10, 0
msg_zero_page:  db "zero page at ", 0
msg_loader:     db ", type_of_loader ", 0
msg_e820:       db "e820 entries: ", 0
msg_e820_index: db "  e820[", 0
msg_addr:       db "] addr=", 0
msg_addr_first: db "addr=", 0
msg_size:       db " size=", 0
msg_type:       db " type=", 0
msg_ram:        db " (usable RAM)", 0
msg_reserved:   db " (reserved)", 0
msg_other:      db " (other)", 0
msg_cmdline_at: db "cmd_line_ptr: ", 0
msg_cmdline:    db 'cmdline: "', 0
msg_initrd:     db "initrd: ", 0
msg_none:       db "none", 0
msg_rsdp:       db "acpi_rsdp_addr: ", 0

    align 16, db 0
kernel_end:
