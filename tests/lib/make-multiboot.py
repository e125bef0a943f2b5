#!/usr/bin/env python3
# make-multiboot.py OUT [FIELD=VALUE...]: a crafted Multiboot kernel for tests of berth's
# Multiboot loader that need one failing one check: an ELF32 executable with one PT_LOAD
# segment of 4 KiB (code bytes 0xf4, `hlt`) plus 4 KiB of bss at `paddr`, whose first
# bytes are the Multiboot header. FIELD (VALUE in any base Python's int() reads):
# flags (the header's), checksum (default: the right one), paddr (default 1 MiB).
import struct
import sys

MAGIC = 0x1BADB002
out, overrides = sys.argv[1], dict(arg.split("=", 1) for arg in sys.argv[2:])
values = {"flags": 0x3, "checksum": None, "paddr": 0x100000}
for name, text in overrides.items():
    if name not in values:
        sys.exit(f"make-multiboot.py: unknown field {name!r}; known: {', '.join(values)}")
    values[name] = int(text, 0)
flags, paddr = values["flags"], values["paddr"]
checksum = values["checksum"]
if checksum is None:
    checksum = -(MAGIC + flags) & 0xFFFFFFFF

code_offset, code_size = 0x1000, 0x1000
f = bytearray(code_offset + code_size)
f[code_offset:] = b"\xf4" * code_size
struct.pack_into("<III", f, code_offset, MAGIC, flags, checksum)
# ELF header: 32-bit, little-endian, executable for i386, entry just after the header.
f[0:16] = b"\x7fELF\x01\x01\x01" + bytes(9)
struct.pack_into("<HHIIIIIHHHHHH", f, 16, 2, 3, 1, paddr + 12, 52, 0, 0, 52, 32, 1, 0, 0, 0)
# One PT_LOAD program header.
struct.pack_into("<IIIIIIII", f, 52, 1, code_offset, paddr, paddr, code_size, 2 * code_size,
                 7, 0x1000)
with open(out, "wb") as file:
    file.write(f)
