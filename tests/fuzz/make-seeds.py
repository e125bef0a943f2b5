#!/usr/bin/env python3
# make-seeds.py: writes the seed corpora in tests/fuzz/corpus/ (committed; run again
# after changing an input format). Seeds are valid inputs that reach deep into the code
# (a ring with real requests, a device brought up to DRIVER_OK, a bzImage that loads),
# so that the fuzzer starts from there rather than from random bytes.
import os
import struct
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
corpus = os.path.join(here, "corpus")

DESC, AVAIL, USED, DATA = 0x0, 0x1000, 0x2000, 0x3000
NEXT, WRITE, INDIRECT = 1, 2, 4


def write_seed(harness, name, data):
    os.makedirs(os.path.join(corpus, harness), exist_ok=True)
    with open(os.path.join(corpus, harness, name), "wb") as f:
        f.write(data)


class Ram:
    """The guest RAM image a ring harness reads after its two header bytes."""

    def __init__(self, size_log2=3, features=0):
        self.header = bytes([size_log2, features])
        self.size = 1 << size_log2
        self.bytes = bytearray(0x4000)
        self.avail_idx = 0

    def desc(self, index, address, length, flags=0, next_=0, table=DESC):
        struct.pack_into("<QIHH", self.bytes, table + 16 * index, address, length, flags, next_)

    def publish(self, head):
        struct.pack_into("<H", self.bytes, AVAIL + 4 + 2 * (self.avail_idx % self.size), head)
        self.avail_idx += 1
        struct.pack_into("<H", self.bytes, AVAIL + 2, self.avail_idx)

    def put(self, address, data):
        self.bytes[address:address + len(data)] = data

    def seed(self):
        return self.header + bytes(self.bytes)


def blk_request(ram, head, kind, sector, data_length, at):
    """A three-descriptor virtio-blk request: header, data, status."""
    ram.put(at, struct.pack("<IIQ", kind, 0, sector))
    data_flags = NEXT | (WRITE if kind in (0, 8) else 0)
    ram.desc(head, at, 16, NEXT, head + 1)
    if data_length:
        ram.desc(head + 1, at + 0x100, data_length, data_flags, head + 2)
        ram.desc(head + 2, at + 0x300, 1, WRITE)
    else:
        ram.desc(head + 1, at + 0x300, 1, WRITE)
    ram.publish(head)


def ring_seeds():
    # A plain chain, a chained pair, and an indirect table.
    ram = Ram(3, 0)
    ram.desc(0, DATA, 64)
    ram.desc(1, DATA + 0x100, 32, NEXT, 2)
    ram.desc(2, DATA + 0x200, 64, WRITE)
    ram.publish(0)
    ram.publish(1)
    write_seed("split_queue", "two-chains", ram.seed())
    ram = Ram(4, 3)  # EVENT_IDX and indirect descriptors
    ram.desc(0, DATA + 0x800, 3 * 16, INDIRECT)
    ram.desc(0, DATA, 16, NEXT, 1, table=DATA + 0x800)
    ram.desc(1, DATA + 0x100, 512, NEXT | WRITE, 2, table=DATA + 0x800)
    ram.desc(2, DATA + 0x300, 1, WRITE, table=DATA + 0x800)
    ram.publish(0)
    write_seed("split_queue", "indirect-event-idx", ram.seed())

    # virtio-blk: a write, a read, a flush, get-id; then discard and write-zeroes.
    ram = Ram(4, 0)
    blk_request(ram, 0, 1, 2, 512, DATA)
    blk_request(ram, 3, 0, 2, 512, DATA + 0x400)
    blk_request(ram, 6, 4, 0, 0, DATA + 0x800)
    blk_request(ram, 8, 8, 0, 20, DATA + 0xc00)
    write_seed("virtio_blk", "write-read-flush-id", ram.seed())
    ram = Ram(3, 1)
    ram.put(DATA + 0x100, struct.pack("<QII", 4, 8, 0))  # discard sectors 4..11
    blk_request(ram, 0, 11, 0, 16, DATA)
    ram.put(DATA + 0x500, struct.pack("<QII", 16, 8, 0))
    blk_request(ram, 3, 13, 0, 16, DATA + 0x400)
    write_seed("virtio_blk", "discard-write-zeroes", ram.seed())
    # virtio-net: a transmitted frame (header and frame in one buffer, then split), and
    # receive buffers, one frame per buffer and (mergeable) a frame over three.
    ram = Ram(3, 0)
    ram.put(DATA, bytes(12) + bytes(range(6)) * 10)
    ram.desc(0, DATA, 12 + 60)
    ram.desc(1, DATA, 12, NEXT, 2)
    ram.desc(2, DATA + 12, 60)
    ram.publish(0)
    ram.publish(1)
    write_seed("virtio_net", "transmit", ram.seed())
    for name, features, lengths in (("receive", 8, [2048, 2048, 2048]),
                                    ("receive-mergeable", 12, [256, 1024, 512, 2048])):
        ram = Ram(3, features)
        for i, length in enumerate(lengths):
            ram.desc(i, DATA + 0x800 * i, length, WRITE)
            ram.publish(i)
        write_seed("virtio_net", name, ram.seed())
    # A tap's backend (bit 5): frames read straight into mergeable buffers that hold the
    # longest (overlapping, as a hostile driver may post them), read aside when they
    # cannot (all buffers together too short; no MRG_RXBUF), and a frame sent in pieces.
    for name, features, count, length in (("tap-receive", 44, 16, 0x2000),
                                          ("tap-receive-short-ring", 44, 16, 2048),
                                          ("tap-receive-one-buffer", 40, 8, 0x2000)):
        ram = Ram(4 if count == 16 else 3, features)
        for i in range(count):
            ram.desc(i, DATA + 0x800 * i, length, WRITE)
            ram.publish(i)
        write_seed("virtio_net", name, ram.seed())
    ram = Ram(3, 32)
    ram.put(DATA, bytes(12) + bytes(range(6)) * 10)
    ram.desc(0, DATA, 12, NEXT, 1)
    ram.desc(1, DATA + 12, 60)
    ram.publish(0)
    write_seed("virtio_net", "tap-transmit", ram.seed())
    # The control queue: ANNOUNCE's ACK, then an RX command it does not offer, each a
    # class and command byte and a writable ack byte.
    ram = Ram(3, 16)
    for i, command in enumerate((bytes([3, 0]), bytes([0, 1, 1]))):
        ram.put(DATA + 0x100 * i, command)
        ram.desc(2 * i, DATA + 0x100 * i, len(command), NEXT, 2 * i + 1)
        ram.desc(2 * i + 1, DATA + 0x100 * i + 0x80, 1, WRITE)
        ram.publish(2 * i)
    write_seed("virtio_net", "control", ram.seed())

    ram = Ram(3, 4)  # a read-only disk: the write fails with IOERR
    blk_request(ram, 0, 1, 0, 512, DATA)
    write_seed("virtio_blk", "read-only-write", ram.seed())


def pci_seeds():
    # Operations: kind | width << 2 (0 port read, 1 port write, 2 MMIO read, 3 MMIO
    # write; width 0..3 for 1, 2, 4, 8 bytes), 16-bit offset, 8-byte value.
    def op(kind, width_log2, offset, value=0):
        return struct.pack("<BBHQ", kind | width_log2 << 2, 0, offset, value)

    def config(register, value=None):
        address = 0x80000000 | 1 << 11 | register  # bus 0, device 1 (slot 0 is the bridge)
        ops = op(1, 2, 0, address)
        return ops + (op(0, 2, 4) if value is None else op(1, 2, 4, value))

    ops = config(0x00) + config(0x10) + config(0x04, 0x6)  # id, BAR 0, memory + master
    ops += config(0x10, 0xFFFFFFFF) + config(0x10)  # BAR sizing
    ops += config(0x10, 0xE0000004)                 # back in place
    # The common configuration (virtio 1.2, 4.1.4.3): reset, ACKNOWLEDGE, DRIVER, read
    # the features, accept VERSION_1 (bit 32), FEATURES_OK, set up queue 0 (8 entries),
    # enable it, DRIVER_OK. (offset, width_log2, value; None reads)
    common = [(0x14, 0, 0), (0x14, 0, 1), (0x14, 0, 3), (0x00, 2, 0), (0x04, 2, None),
              (0x00, 2, 1), (0x04, 2, None), (0x08, 2, 1), (0x0C, 2, 1), (0x14, 0, 11),
              (0x16, 1, 0), (0x18, 1, 8), (0x20, 3, DESC), (0x28, 3, AVAIL),
              (0x30, 3, USED), (0x1C, 1, 1), (0x14, 0, 15)]
    for offset, width, value in common:
        ops += op(2, width, offset) if value is None else op(3, width, offset, value)
    ops += op(3, 1, 0x3000, 0)  # notify queue 0
    ops += op(2, 0, 0x1000)     # ISR
    ram = Ram(3, 0)
    ram.desc(0, DATA, 64, WRITE)
    ram.publish(0)
    write_seed("virtio_pci", "bring-up-and-notify", ram.header + ops + bytes(ram.bytes))
    write_seed("virtio_pci", "config-only", bytes([0, 0]) + config(0x00) + config(0x34))


def bzimage_seeds():
    out = os.path.join(corpus, "bzimage")
    os.makedirs(out, exist_ok=True)
    maker = os.path.join(here, "..", "lib", "make-bzimage.py")
    subprocess.run([sys.executable, maker, os.path.join(out, "valid")], check=True)
    subprocess.run([sys.executable, maker, os.path.join(out, "old-protocol"), "version=0x20b"],
                   check=True)


def multiboot_seeds():
    out = os.path.join(corpus, "multiboot")
    os.makedirs(out, exist_ok=True)
    maker = os.path.join(here, "..", "lib", "make-multiboot.py")
    subprocess.run([sys.executable, maker, os.path.join(out, "valid")], check=True)
    subprocess.run([sys.executable, maker, os.path.join(out, "bad-checksum"), "checksum=1"],
                   check=True)
    # A flat image whose header carries the load addresses (flags bit 16).
    flags = 0x10003
    header = struct.pack("<8I", 0x1BADB002, flags, -(0x1BADB002 + flags) & 0xFFFFFFFF,
                         0x100000, 0x100000, 0, 0x102000, 0x100020)
    with open(os.path.join(out, "address-fields"), "wb") as f:
        f.write(header + b"\xf4" * 0x100)


def pvh_seeds():
    out = os.path.join(corpus, "pvh")
    os.makedirs(out, exist_ok=True)
    maker = os.path.join(here, "..", "lib", "make-pvh-elf.py")
    subprocess.run([sys.executable, maker, os.path.join(out, "valid")], check=True)
    subprocess.run([sys.executable, maker, os.path.join(out, "no-note"), "entry=-1"], check=True)
    subprocess.run([sys.executable, maker, os.path.join(out, "overlap"), "overlap=0x1000800"],
                   check=True)


def qcow2_seeds():
    """Small images from qemu-img (qemu-utils): v2 and v3, 512-byte and 4 KiB clusters,
    data, zero and compressed (zlib, zstd) clusters."""
    import tempfile
    out = os.path.join(corpus, "qcow2")
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        def make(name, options, commands=(), size="64K"):
            path = os.path.join(work, name)
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-o", options, path, size],
                           check=True)
            for command in commands:
                subprocess.run(["qemu-io", "-f", "qcow2", "-c", command, path], check=True,
                               stdout=subprocess.DEVNULL)
            os.replace(path, os.path.join(out, name))
        make("v3-512", "cluster_size=512", ["write -P 1 0 1k", "write -z 2k 1k"])
        make("v2-512", "cluster_size=512,compat=0.10", ["write -P 2 512 1k"])
        make("v3-4k-refcount16", "cluster_size=4096,refcount_bits=16", ["write -P 3 0 8k"])
        for name, options in (("compressed-zlib", "cluster_size=4096"),
                              ("compressed-zstd", "cluster_size=4096,compression_type=zstd")):
            raw = os.path.join(work, "raw")
            with open(raw, "wb") as f:
                f.write(bytes(range(256)) * 64)
            subprocess.run(["qemu-img", "convert", "-q", "-c", "-O", "qcow2", "-o", options, raw,
                            os.path.join(out, name)], check=True)


def parser_seeds():
    texts = ["256M", "10.88.0.5/16", "disk.img,ro", "name=opt/x,file=/tmp/x", "1000:1000",
             "KEY=value", "0.5", "64", "1G", "bridge", "10.88.0.9", "ff"]
    for parser, text in enumerate(texts):
        write_seed("cli_parsers", f"parser-{parser:02d}", bytes([parser]) + text.encode())


def dhcp_message(kind, options=b"", ciaddr=0):
    """A guest's broadcast DHCP message (RFC 2131) from the MAC the harness's offer names."""
    mac = bytes([0x52, 0x54, 0x0a, 0x58, 0x12, 0x34])
    bootp = bytearray(300)
    struct.pack_into(">BBBBIHHI", bootp, 0, 1, 1, 6, 0, 0xdeadbeef, 0, 0, ciaddr)
    bootp[28:34] = mac
    struct.pack_into(">I", bootp, 236, 0x63825363)
    opts = bytes([53, 1, kind]) + options + bytes([255])
    bootp[240:240 + len(opts)] = opts
    udp = struct.pack(">HHHH", 68, 67, 8 + len(bootp), 0) + bootp
    ip = struct.pack(">BBHHHBBHII", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, 0, 0xffffffff) + udp
    return b"\xff" * 6 + mac + b"\x08\x00" + ip


def dhcp_seeds():
    write_seed("dhcp_server", "discover", dhcp_message(1))
    write_seed("dhcp_server", "request-selecting",
               dhcp_message(3, bytes([50, 4, 10, 88, 0x12, 0x34, 54, 4, 10, 88, 0, 1])))
    write_seed("dhcp_server", "request-renewing", dhcp_message(3, ciaddr=0x0a581234))
    write_seed("dhcp_server", "request-other-address", dhcp_message(3, bytes([50, 4, 10, 88, 9, 9])))


def disk_boot_seeds():
    """A 256 KiB GPT disk (sfdisk, from fdisk) with ext4 (mke2fs -E offset=) holding a
    kernel, an initrd and a grub.cfg; an MBR disk with an extended partition; a grub.cfg
    and a BLS entry as text (first byte: 0 disk, 1 grub.cfg, 2 BLS)."""
    import tempfile
    grub = ("set default=\"0\"\nmenuentry 'x' --id x {\n linux /boot/vmlinuz-1 root=UUID=1 ro "
            "console=ttyS0 run=\"a b\"\n initrd /boot/initrd.img-1\n}\n"
            "submenu 's' {\n menuentry 'y' {\n  linux /boot/vmlinuz-1\n }\n}\n")
    with tempfile.TemporaryDirectory() as work:
        tree = os.path.join(work, "tree")
        os.makedirs(os.path.join(tree, "boot", "grub"))
        for name, text in (("boot/vmlinuz-1", "kernel"), ("boot/initrd.img-1", "initrd"),
                           ("boot/grub/grub.cfg", grub)):
            with open(os.path.join(tree, name), "w") as f:
                f.write(text)
        for name, table, fs_at in (
                ("gpt-ext4", "label: gpt\nfirst-lba: 34\nstart=40, size=400, "
                 "type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n", 40),
                ("mbr-logical", "label: dos\nstart=8, size=40, type=82\nstart=48, type=5\n"
                 "start=56, size=400, type=83\n", 56)):
            disk = os.path.join(work, name)
            with open(disk, "wb") as f:
                f.truncate(256 * 1024)
            subprocess.run(["sfdisk", "-q", disk], input=table.encode(), check=True,
                           env=dict(os.environ, PATH=os.environ["PATH"] + ":/usr/sbin:/sbin"))
            subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-O", "^has_journal", "-E",
                            f"offset={fs_at * 512}", "-d", tree, disk, "200K"], check=True,
                           env=dict(os.environ, PATH=os.environ["PATH"] + ":/usr/sbin:/sbin"))
            with open(disk, "rb") as f:
                write_seed("disk_boot", name, b"\x00" + f.read())
    write_seed("disk_boot", "grub-cfg", b"\x01" + grub.encode())
    write_seed("disk_boot", "bls-entry", b"\x02title T\nversion 2\nlinux /vmlinuz-2\n"
               b"initrd /initrd-2\noptions root=UUID=1 console=tty0\n")


ring_seeds()
pci_seeds()
bzimage_seeds()
multiboot_seeds()
pvh_seeds()
qcow2_seeds()
parser_seeds()
dhcp_seeds()
disk_boot_seeds()
