#!/usr/bin/env python3
# make-bzimage.py OUT [FIELD=VALUE...]: a crafted kernel for tests that need one which
# passes or fails one check of berth's bzImage loader, with no real kernel at hand. The
# file is a boot sector and setup header as Linux's boot.rst describes it (version
# 2.15, 64-bit entry, relocatable, 4 setup sectors) followed by 4 KiB of "kernel".
# FIELD is a header field below (VALUE in any base Python's int() reads, e.g. 0x20b),
# or `length`, which truncates the file to that many bytes.
import struct
import sys

out, overrides = sys.argv[1], dict(arg.split("=", 1) for arg in sys.argv[2:])
values = {"version": 0x20F, "cmdline_size": 2047, "pref_address": 0x1000000,
          "init_size": 0x400000}  # pref_address 16 MiB; the kernel runs up to 20 MiB
length = None
for name, text in overrides.items():
    if name == "length":
        length = int(text, 0)
    elif name in values:
        values[name] = int(text, 0)
    else:
        sys.exit(f"make-bzimage.py: unknown field {name!r}; known: length, {', '.join(values)}")

f = bytearray(5 * 512 + 4096)
f[0x1F1] = 4                                   # setup_sects
struct.pack_into("<I", f, 0x1F4, 4096 // 16)   # syssize
struct.pack_into("<H", f, 0x1FE, 0xAA55)       # boot_flag
f[0x200:0x202] = b"\xeb\x6a"                   # jump; header length
f[0x202:0x206] = b"HdrS"
struct.pack_into("<H", f, 0x206, values["version"])
f[0x211] = 1                                   # loadflags: LOADED_HIGH
struct.pack_into("<I", f, 0x22C, 0x7FFFFFFF)   # initrd_addr_max
struct.pack_into("<I", f, 0x230, 0x200000)     # kernel_alignment
f[0x234] = 1                                   # relocatable_kernel
struct.pack_into("<H", f, 0x236, 1)            # xloadflags: XLF_KERNEL_64
struct.pack_into("<I", f, 0x238, values["cmdline_size"])
struct.pack_into("<Q", f, 0x258, values["pref_address"])
struct.pack_into("<I", f, 0x260, values["init_size"])
with open(out, "wb") as file:
    file.write(f[:length] if length is not None else f)
