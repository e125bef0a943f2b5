#!/usr/bin/env python3
# make-pvh-elf.py OUT [FIELD=VALUE...]: a crafted PVH kernel for tests of berth's PVH
# loader that need one failing one check: an ELF64 x86-64 executable with one PT_LOAD
# segment of 4 KiB (code bytes 0xf4, `hlt`) plus `bss` bytes at `paddr`, and a PT_NOTE
# segment holding Xen's XEN_ELFNOTE_PHYS32_ENTRY note (type 18) with `entry`, 8 bytes as
# Linux writes it. FIELD (VALUE in any base Python's int() reads): paddr (default
# 16 MiB, as Linux's vmlinux), bss (default 4 KiB), entry (default paddr + 0x10; -1:
# no entry note), overlap (an address: a second PT_LOAD of 4 KiB there), truncate (cut
# the file to this many bytes).
import struct
import sys

out, overrides = sys.argv[1], dict(arg.split("=", 1) for arg in sys.argv[2:])
values = {"paddr": 0x1000000, "bss": 0x1000, "entry": None, "overlap": None, "truncate": None}
for name, text in overrides.items():
    if name not in values:
        sys.exit(f"make-pvh-elf.py: unknown field {name!r}; known: {', '.join(values)}")
    values[name] = int(text, 0)
paddr = values["paddr"]
entry = paddr + 0x10 if values["entry"] is None else values["entry"]

notes = struct.pack("<III4s6s2x", 4, 6, 6, b"Xen\0", b"linux\0")  # XEN_ELFNOTE_GUEST_OS
if entry >= 0:
    notes += struct.pack("<III4sQ", 4, 8, 18, b"Xen\0", entry)
code_offset, code_size, notes_offset = 0x1000, 0x1000, 0x400
phdrs = [
    # type, flags, offset, vaddr, paddr, filesz, memsz, align
    (1, 7, code_offset, 0xFFFFFFFF81000000, paddr, code_size, code_size + values["bss"], 0x1000),
    (4, 4, notes_offset, 0, 0, len(notes), len(notes), 4),
]
if values["overlap"] is not None:
    phdrs.append((1, 6, code_offset, 0, values["overlap"], code_size, code_size, 0x1000))
f = bytearray(code_offset + code_size)
f[code_offset:] = b"\xf4" * code_size
f[notes_offset:notes_offset + len(notes)] = notes
# ELF header: 64-bit, little-endian, executable for x86-64, program headers after it.
f[0:16] = b"\x7fELF\x02\x01\x01" + bytes(9)
struct.pack_into("<HHIQQQIHHHHHH", f, 16, 2, 62, 1, 0xFFFFFFFF81000000, 64, 0, 0, 64, 56,
                 len(phdrs), 0, 0, 0)
for i, phdr in enumerate(phdrs):
    struct.pack_into("<IIQQQQQQ", f, 64 + 56 * i, *phdr)
if values["truncate"] is not None:
    del f[values["truncate"]:]
with open(out, "wb") as file:
    file.write(f)
