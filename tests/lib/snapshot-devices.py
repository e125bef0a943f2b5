#!/usr/bin/env python3
"""Prints the devices a berth snapshot's state file records (docs/snapshots.md), one
"KIND VALUE" line each, after checking the header's magic, length and CRC-32; for the
rig tests that look into a snapshot. Exit status 1 for a file that is not one.

  snapshot-devices.py DIR
"""
import struct
import sys
import zlib

HEADER = 24  # magic (8), version (4), CRC-32 of the body (4), body length (8)


def decode(data, at):
    """The MessagePack value at offset AT of DATA and the offset after it."""
    byte = data[at]
    at += 1

    def take(n):
        return data[at:at + n], at + n

    def sized(fmt):
        n = struct.calcsize(fmt)
        return struct.unpack(fmt, data[at:at + n])[0], at + n

    def items(count, at, pairs):
        out = {} if pairs else []
        for _ in range(count):
            key, at = decode(data, at)
            if pairs:
                value, at = decode(data, at)
                out[key] = value
            else:
                out.append(key)
        return out, at

    if byte <= 0x7f:
        return byte, at
    if byte >= 0xe0:
        return byte - 0x100, at
    if 0x80 <= byte <= 0x8f:
        return items(byte & 0x0f, at, True)
    if 0x90 <= byte <= 0x9f:
        return items(byte & 0x0f, at, False)
    if 0xa0 <= byte <= 0xbf:
        raw, at = take(byte & 0x1f)
        return raw.decode(), at
    if byte in (0xc0, 0xc2, 0xc3):
        return {0xc0: None, 0xc2: False, 0xc3: True}[byte], at
    if byte in (0xc4, 0xc5, 0xc6, 0xd9, 0xda, 0xdb):
        length, at = sized({0xc4: ">B", 0xc5: ">H", 0xc6: ">I",
                            0xd9: ">B", 0xda: ">H", 0xdb: ">I"}[byte])
        raw, at = take(length)
        return (raw if byte <= 0xc6 else raw.decode()), at
    scalars = {0xca: ">f", 0xcb: ">d", 0xcc: ">B", 0xcd: ">H", 0xce: ">I", 0xcf: ">Q",
               0xd0: ">b", 0xd1: ">h", 0xd2: ">i", 0xd3: ">q"}
    if byte in scalars:
        return sized(scalars[byte])
    if byte in (0xdc, 0xdd, 0xde, 0xdf):
        count, at = sized(">H" if byte in (0xdc, 0xde) else ">I")
        return items(count, at, byte >= 0xde)
    raise ValueError(f"MessagePack type {byte:#x} at offset {at - 1}")


def main():
    with open(f"{sys.argv[1]}/state", "rb") as f:
        data = f.read()
    if data[:8] != b"BERTHSNP" or len(data) < HEADER:
        sys.exit(f"{sys.argv[1]}/state: not a berth snapshot state file")
    crc, length = struct.unpack("<IQ", data[12:HEADER])
    body = data[HEADER:]
    if len(body) != length or zlib.crc32(body) != crc:
        sys.exit(f"{sys.argv[1]}/state: damaged (length or CRC-32)")
    state, _ = decode(body, 0)
    for device in state["machine"]["devices"]:
        print(device["kind"], device["value"])


if __name__ == "__main__":
    main()
