#!/usr/bin/env python3
"""Writes a berth snapshot directory (docs/snapshots.md) whose state file is well formed
or damaged on purpose, for the bad-input tests of `berth vm run --restore`. No VM state
is real: every case must be refused before KVM is opened.

  make-snapshot.py DIR [--version N] [--flip-body] [--truncate N] [--garbage]
                       [--empty-body] [--disk PATH SIZE] [--memory-size BYTES]
                       [--working-set {outside,truncated}]

--working-set adds a DIR/working-set file: one well formed but for its one run, which
lies past the end of guest RAM (outside), or one cut inside its runs (truncated).
"""
import argparse
import os
import struct
import zlib


def msgpack(value):
    """The MessagePack encoding of VALUE: dict, list, str, bytes, bool, int >= 0."""
    if isinstance(value, bool):
        return bytes([0xc3 if value else 0xc2])
    if isinstance(value, int):
        if value < 128:
            return bytes([value])
        return b"\xcf" + struct.pack(">Q", value)
    if isinstance(value, bytes):
        return b"\xc6" + struct.pack(">I", len(value)) + value
    if isinstance(value, str):
        data = value.encode()
        return b"\xdb" + struct.pack(">I", len(data)) + data
    if isinstance(value, list):
        return b"\xdd" + struct.pack(">I", len(value)) + b"".join(msgpack(v) for v in value)
    if isinstance(value, dict):
        return b"\xdf" + struct.pack(">I", len(value)) + b"".join(
            msgpack(k) + msgpack(v) for k, v in value.items())
    raise TypeError(type(value))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--version", type=int, default=1)
    parser.add_argument("--flip-body", action="store_true")
    parser.add_argument("--truncate", type=int)
    parser.add_argument("--garbage", action="store_true")
    parser.add_argument("--empty-body", action="store_true")
    parser.add_argument("--disk", nargs=2, metavar=("PATH", "SIZE"))
    parser.add_argument("--memory-size", type=int, default=16 << 20)
    parser.add_argument("--working-set", choices=("outside", "truncated"))
    args = parser.parse_args()

    memory = 16 << 20
    devices = []
    if args.disk:
        devices.append({"kind": "disk", "value": args.disk[0] + ",rw",
                        "files": [{"path": args.disk[0], "size": int(args.disk[1])}]})
    state = {} if args.empty_body else {
        "machine": {"cpus": 1, "memory_bytes": memory, "console": "ttyS0",
                    "pm_timer": False, "qemu_debug_exit": False, "fw_cfg": [],
                    "devices": devices},
        "memory": [{"guest_address": 0, "size": memory, "offset": 0}],
        "vcpus": [{"regs": b"\0" * 8}],
    }
    body = msgpack(state)
    data = b"BERTHSNP" + struct.pack("<IIQ", args.version, zlib.crc32(body), len(body)) + body
    if args.flip_body:
        data = data[:-1] + bytes([data[-1] ^ 0x10])
    if args.truncate is not None:
        data = data[:args.truncate]
    if args.garbage:
        data = b"#!/bin/sh\necho not a snapshot\n"
    os.makedirs(args.dir, exist_ok=True)
    with open(os.path.join(args.dir, "state"), "wb") as f:
        f.write(data)
    with open(os.path.join(args.dir, "memory"), "wb") as f:
        f.truncate(args.memory_size)
    if args.working_set:
        # Runs: guest address, pages, use (0 read, 1 written); docs/snapshots.md.
        runs = struct.pack("<QII", 0x1000, 2, 1) + struct.pack("<QII", memory, 1, 0)
        if args.working_set == "truncated":
            runs = struct.pack("<QII", 0x1000, 2, 1)
        ws = b"BERTHWKS" + struct.pack("<IIQ", 1, zlib.crc32(runs), 2) + runs
        with open(os.path.join(args.dir, "working-set"), "wb") as f:
            f.write(ws)


if __name__ == "__main__":
    main()
