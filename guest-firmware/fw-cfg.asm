; fw_cfg and QEMU's debug exit, seen from a guest written for QEMU (not a lesson: the
; kvm tests run it, tests/integration/fw-cfg-tests.sh).
;
; The program does what a small kernel booted by QEMU does to learn about its machine:
; it checks fw_cfg's signature, reads the RAM size, looks a file up in the fw_cfg
; directory and reads it, then ends the run through the isa-debug-exit port 0xf4.
;
;   berth vm run --firmware build/guest-firmware/fw-cfg.bin --debug-exit 0xf4 \
;       --fw-cfg name=opt/berth/greeting,file=FILE
;
; prints the signature, the RAM size and FILE (up to 255 bytes), and berth exits with
; status (0x2a << 1) | 1 = 85. Without that file it says so and exits with status 3.
; Without --debug-exit 0xf4 the port is nobody's: the write is dropped and the `hlt`
; after it ends the run with status 0.
;
; fw_cfg, as QEMU's docs/specs/fw_cfg.rst describes it: write a 16-bit key to the
; selector port 0x510, then read the item from the data port 0x511 a byte at a time.
; `rep insb` reads a whole block in one VM exit (KVM hands berth the count).

bits 16
org 0x7c00

FW_CFG_SELECTOR equ 0x510
FW_CFG_DATA     equ 0x511
KEY_SIGNATURE   equ 0x0000
KEY_RAM_SIZE    equ 0x0003
KEY_FILE_DIR    equ 0x0019
DIR_ENTRY_SIZE  equ 64       ; size (BE32), key (BE16), reserved, name[56]
QEMU_EXIT       equ 0xf4
EXIT_FOUND      equ 0x2a     ; berth exits with (0x2a << 1) | 1 = 85
EXIT_MISSING    equ 0x01     ; status 3
MAX_FILE        equ 255

; Buffers, past the end of the program.
number          equ 0x9000   ; 4 bytes
remaining       equ 0x9004   ; directory entries left, 4 bytes
entry           equ 0x9010   ; one directory entry
contents        equ 0x9100   ; the file, then a NUL

start:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax              ; rep insb writes to es:di
    cld

    mov ax, KEY_SIGNATURE
    mov di, signature
    mov cx, 4
    call read_item
    mov esi, signature_line
    call print

    mov ax, KEY_RAM_SIZE    ; 64-bit little endian; a real-mode guest's RAM fits 32
    mov di, number
    mov cx, 4
    call read_item
    mov esi, ram_text
    call print
    mov eax, [number]
    call print_u32
    mov esi, bytes_text
    call print

    mov ax, KEY_FILE_DIR    ; the count, big endian, then the entries
    mov di, number
    mov cx, 4
    call read_item
    mov eax, [number]
    bswap eax
    mov [remaining], eax
.next_entry:
    cmp dword [remaining], 0
    je missing
    dec dword [remaining]
    mov di, entry
    mov cx, DIR_ENTRY_SIZE
    call read_data          ; the selector stays on the directory
    mov si, entry + 8
    mov di, wanted
    mov cx, wanted_size     ; the name and its NUL
    repe cmpsb
    jne .next_entry

    mov eax, [entry]        ; the file's size, big endian
    bswap eax
    cmp eax, MAX_FILE
    jbe .size_ok
    mov eax, MAX_FILE
.size_ok:
    mov bp, ax
    mov ax, [entry + 4]     ; its key, big endian
    xchg al, ah
    mov di, contents
    mov cx, bp
    call read_item
    mov byte [contents + bp], 0
    mov esi, wanted
    call print
    mov esi, separator
    call print
    mov esi, contents
    call print

    mov dx, QEMU_EXIT
    mov eax, EXIT_FOUND     ; a 32-bit write, as QEMU users' kernels do
    out dx, eax
    jmp stop

missing:
    mov esi, missing_text
    call print
    mov dx, QEMU_EXIT
    mov al, EXIT_MISSING    ; a byte write works as well
    out dx, al

stop:                       ; reached only when port 0xf4 is not a debug exit
    hlt
    jmp stop

; read_item: selects key ax, reads cx bytes of it to es:di. Clobbers cx, dx, di.
read_item:
    mov dx, FW_CFG_SELECTOR
    out dx, ax
; read_data: reads the selected item's next cx bytes to es:di. Clobbers cx, dx, di.
read_data:
    mov dx, FW_CFG_DATA
    rep insb
    ret

%include "serial.inc"

signature_line: db "fw_cfg signature: "
signature:      db "????", 10, 0
ram_text:       db "RAM: ", 0
bytes_text:     db " bytes", 10, 0
wanted:         db "opt/berth/greeting", 0
wanted_size     equ $ - wanted
separator:      db ": ", 0
missing_text:   db "no opt/berth/greeting in the fw_cfg directory", 10, 0
