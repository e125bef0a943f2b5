#!/usr/bin/env bash
# Bad input on the command line: each case must print exactly one line on stderr that
# names the problem, exit with status 2, and never crash. Inputs are validated before
# KVM is opened, so this runs on any host. TAP output for meson.
set -u
# shellcheck source=../lib/tap.sh
. "$(dirname "$0")/../lib/tap.sh"
BERTH=${BERTH:?set BERTH to the berth binary}
HELLO=${HELLO_FIRMWARE:?set HELLO_FIRMWARE to hello.bin}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# expect_bad_input NAME PATTERN -- ARGS...: status 2, one stderr line matching PATTERN.
expect_bad_input() {
    local name=$1 pattern=$2
    shift 3
    local status=0
    "$BERTH" "$@" >"$scratch/out" 2>"$scratch/err" || status=$?
    local lines
    lines=$(wc -l <"$scratch/err")
    if [[ $status -eq 2 && $lines -eq 1 ]] && grep -qE -- "$pattern" "$scratch/err"; then
        tap_ok "$name"
    else
        tap_not_ok "$name (status $status, $lines stderr lines)"
        tap_diag <"$scratch/err"
    fi
}

: >"$scratch/empty.bin"
head -c $((2 * 1024 * 1024)) /dev/zero >"$scratch/big.bin"
mkdir "$scratch/dir.bin"
chmod 000 "$scratch/empty.bin"
unreadable_note=""
if [[ $(id -u) -eq 0 ]]; then
    # root reads mode-000 files; use a path under a file to make it unreadable.
    unreadable="$scratch/big.bin/child"
else
    unreadable="$scratch/empty.bin"
fi
chmod 644 "$scratch/empty.bin"

make_bzimage() { python3 "$(dirname "$0")/../lib/make-bzimage.py" "$@"; }
make_bzimage "$scratch/vmlinuz"
make_bzimage "$scratch/vmlinuz-old" version=0x20b
make_bzimage "$scratch/vmlinuz-truncated" length=3000
head -c 5000 /dev/zero | tr '\0' 'x' >"$scratch/not-a-kernel"
truncate -s 33M "$scratch/initrd-33M"

expect_bad_input "unknown flag" "--bogus" -- vm run --firmware "$HELLO" --bogus
expect_bad_input "unknown subcommand" "frobnicate" -- frobnicate
expect_bad_input "no subcommand" "subcommand" --
expect_bad_input "vm without run" "subcommand" -- vm
expect_bad_input "unknown option before a command" "^berth: unknown option '--bogus' for berth; give a command first" -- --bogus
expect_bad_input "missing --firmware" "--firmware" -- vm run
expect_bad_input "missing firmware file" "^berth: cannot start VM: cannot read firmware .*no-such.bin: No such file or directory; give the path of a readable file$" -- vm run --firmware "$scratch/no-such.bin"
expect_bad_input "unreadable firmware" "cannot read firmware" -- vm run --firmware "$unreadable"
expect_bad_input "firmware is a directory" "cannot read firmware .*dir.bin: is a directory, not a regular file" -- vm run --firmware "$scratch/dir.bin"
expect_bad_input "empty firmware" "is empty" -- vm run --firmware "$scratch/empty.bin"
expect_bad_input "firmware larger than memory" "cannot start VM: firmware .*big.bin .*does not fit in 2 MiB .*; give the guest 3 MiB or more$" -- vm run --firmware "$scratch/big.bin" --memory 2M
# --debug-exit and --fw-cfg (QEMU's debug-exit port and fw_cfg)
printf 'x' >"$scratch/fw-cfg-file"
expect_bad_input "--debug-exit at another port" "^berth: --debug-exit '0x600': berth has no debug-exit port there; give 0xf4 " -- vm run --firmware "$HELLO" --debug-exit 0x600
expect_bad_input "--debug-exit not a number" "^berth: --debug-exit 'f4x': berth has no debug-exit port there" -- vm run --firmware "$HELLO" --debug-exit f4x
expect_bad_input "--debug-exit empty" "^berth: --debug-exit: the value is empty; give one or leave the flag out" -- vm run --firmware "$HELLO" --debug-exit ""
expect_bad_input "--fw-cfg empty" "^berth: --fw-cfg: the value is empty; give one or leave the flag out" -- vm run --firmware "$HELLO" --fw-cfg ""
expect_bad_input "--fw-cfg without name=" "^berth: --fw-cfg 'opt/x': 'opt/x' is not KEY=VALUE; give name=opt/NAME,file=PATH$" -- vm run --firmware "$HELLO" --fw-cfg opt/x
expect_bad_input "--fw-cfg without file=" "^berth: --fw-cfg 'name=opt/x': file is missing; give name=opt/NAME,file=PATH$" -- vm run --firmware "$HELLO" --fw-cfg name=opt/x
expect_bad_input "--fw-cfg unknown key" "unknown key 'string'" -- vm run --firmware "$HELLO" --fw-cfg name=opt/x,string=hi
expect_bad_input "--fw-cfg name outside opt/" "^berth: --fw-cfg 'name=etc/x,file=.*': file name 'etc/x' does not start with \"opt/\"" -- vm run --firmware "$HELLO" --fw-cfg "name=etc/x,file=$scratch/fw-cfg-file"
expect_bad_input "--fw-cfg name too long" "is 56 characters, more than the 55" -- vm run --firmware "$HELLO" --fw-cfg "name=opt/$(printf '%052d' 0),file=$scratch/fw-cfg-file"
expect_bad_input "--fw-cfg missing file" "^berth: cannot start VM: fw_cfg 'opt/x': cannot read fw_cfg file .*no-such-file: No such file or directory; give the path of a readable file$" -- vm run --firmware "$HELLO" --fw-cfg "name=opt/x,file=$scratch/no-such-file"
expect_bad_input "--fw-cfg duplicate name" "^berth: cannot start VM: fw_cfg file name 'opt/x' is given twice; give each file its own name$" -- vm run --firmware "$HELLO" --fw-cfg "name=opt/x,file=$scratch/fw-cfg-file" --fw-cfg "name=opt/x,file=$scratch/fw-cfg-file"
expect_bad_input "--fw-cfg missing file, Linux guest" "^berth: cannot start VM: fw_cfg 'opt/x': cannot read fw_cfg file" -- vm run --kernel "$scratch/vmlinuz" --fw-cfg "name=opt/x,file=$scratch/no-such-file"
expect_bad_input "memory not a number" "--memory 'lots' is not a size" -- vm run --firmware "$HELLO" --memory lots
expect_bad_input "memory unknown unit" "unknown unit" -- vm run --firmware "$HELLO" --memory 16Q
expect_bad_input "memory too small" "^berth: cannot start VM: memory 64 KiB is too small: a real-mode guest needs at least 1 MiB; give it that or more$" -- vm run --firmware "$HELLO" --memory 64K
expect_bad_input "memory not page multiple" "cannot start VM: memory 1048577 bytes is not a multiple of 4 KiB; give" -- vm run --firmware "$HELLO" --memory 1048577
# Linux kernels: every check happens before /dev/kvm is opened.
# The control API: a path berth cannot serve on (checked before KVM is opened), and
# `vm ctl` at a path no VM serves.
: >"$scratch/not-a-socket"
expect_bad_input "--api-socket over a regular file" "^berth: cannot start VM: API socket '.*not-a-socket': the path exists and is not a socket" -- vm run --kernel "$scratch/vmlinuz" --api-socket "$scratch/not-a-socket"
expect_bad_input "--api-socket in a missing directory" "^berth: cannot start VM: API socket '.*no-such-dir/api.sock': cannot listen on it: No such file or directory" -- vm run --kernel "$scratch/vmlinuz" --api-socket "$scratch/no-such-dir/api.sock"
expect_bad_input "--api-socket path too long" "longer than a unix socket allows" -- vm run --kernel "$scratch/vmlinuz" --api-socket "$scratch/$(printf 'x%.0s' {1..120})"
expect_bad_input "--api-socket with --firmware" "^berth: --api-socket: needs --kernel or --image" -- vm run --firmware "$HELLO" --api-socket "$scratch/api.sock"
expect_bad_input "vm ctl: missing socket" "^berth: API socket '.*no-such.sock': no such file; give the --api-socket path of a running" -- vm ctl "$scratch/no-such.sock" info
expect_bad_input "vm ctl: not a socket" "^berth: API socket '.*not-a-socket': not a socket" -- vm ctl "$scratch/not-a-socket" info
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$scratch/stale.sock"
expect_bad_input "vm ctl: a stale socket" "^berth: API socket '.*stale.sock': nobody listens on it" -- vm ctl "$scratch/stale.sock" stats
expect_bad_input "vm ctl: unknown command" "^berth: command: reboot not in \\{info,stats,pause,resume,shutdown,stop,snapshot\\}" -- vm ctl "$scratch/stale.sock" reboot
expect_bad_input "vm ctl: snapshot without DIR" "^berth: snapshot needs DIR; give it after snapshot" -- vm ctl "$scratch/stale.sock" snapshot
expect_bad_input "vm ctl: info with an argument" "^berth: info takes no argument" -- vm ctl "$scratch/stale.sock" info extra
expect_bad_input "vm ctl: no command" "^berth: command is required" -- vm ctl "$scratch/stale.sock"
expect_bad_input "kernel not a bzImage" "kernel .*not-a-kernel is not a bzImage" -- vm run --kernel "$scratch/not-a-kernel"
expect_bad_input "kernel truncated" "kernel .*vmlinuz-truncated is truncated" -- vm run --kernel "$scratch/vmlinuz-truncated"
expect_bad_input "kernel boot protocol too old" "boot protocol 2.11, berth needs 2.12" -- vm run --kernel "$scratch/vmlinuz-old"
expect_bad_input "missing kernel file" "^berth: cannot start VM: cannot read kernel .*no-such: No such file or directory; give the path of a readable file$" -- vm run --kernel "$scratch/no-such"
expect_bad_input "initrd larger than RAM" "initrd .*initrd-33M .*larger than the guest's memory" -- vm run --kernel "$scratch/vmlinuz" --initrd "$scratch/initrd-33M" --memory 32M
expect_bad_input "memory too small for the kernel" "^berth: cannot start VM: memory 16 MiB is too small for kernel .*vmlinuz: it decompresses up to 20 MiB; give the guest 36 MiB or more$" -- vm run --kernel "$scratch/vmlinuz" --memory 16M
expect_bad_input "cpus 0" "^berth: cannot start VM: cpus 0: a guest needs at least one vCPU; give 1 or more$" -- vm run --kernel "$scratch/vmlinuz" --cpus 0
expect_bad_input "cpus beyond berth's limit" "cannot start VM: cpus 100000: more than berth supports; give at most 255$" -- vm run --kernel "$scratch/vmlinuz" --cpus 100000
expect_bad_input "firmware with kernel" "--firmware excludes --kernel" -- vm run --kernel "$scratch/vmlinuz" --firmware "$HELLO"
expect_bad_input "initrd without kernel" "--initrd requires --kernel" -- vm run --firmware "$HELLO" --initrd "$scratch/initrd-33M"
# Disks (--disk): checked before /dev/kvm is opened too.
: >"$scratch/empty.img"
truncate -s 1M "$scratch/disk.img"
expect_bad_input "missing disk" "^berth: cannot start VM: disk 0 \(.*no-such.img\): cannot open: No such file or directory \(errno 2\); give the path of a raw disk image$" -- vm run --kernel "$scratch/vmlinuz" --disk "$scratch/no-such.img"
expect_bad_input "zero-length disk" "cannot start VM: disk 0 \(.*empty.img\): is 0 bytes, less than one 512-byte sector; give a disk image" -- vm run --kernel "$scratch/vmlinuz" --disk "$scratch/empty.img"
expect_bad_input "disk option" "^berth: --disk '.*disk.img,rx': unknown disk option 'rx'; use PATH\[,format=raw\|qcow2\]\[,ro\]$" -- vm run --kernel "$scratch/vmlinuz" --disk "$scratch/disk.img,rx"
expect_bad_input "disk is a directory" "cannot start VM: disk 0 \(.*dir.bin\): is a directory, not a regular file or block device; give the path of a raw disk image$" -- vm run --kernel "$scratch/vmlinuz" --disk "$scratch/dir.bin,ro"
# The chain, seam by seam: the CLI's "cannot start VM", the machine's "disk N (PATH)"
# (the --image disk is 0, the first --disk 1), the device's own words and errno.
expect_bad_input "disk is a directory, read-write" "^berth: cannot start VM: disk 1 \(.*dir.bin\): cannot open: Is a directory \(errno 21\); give the path of a raw disk image$" -- vm run --kernel "$scratch/vmlinuz" --disk "$scratch/disk.img" --disk "$scratch/dir.bin"
expect_bad_input "unreadable disk" "^berth: cannot start VM: disk 0 \(.*\): cannot open: [A-Z][a-z ]+ \(errno [0-9]+\); " -- vm run --kernel "$scratch/vmlinuz" --disk "$unreadable"
if [[ $(id -u) -ne 0 ]]; then
    # Only read permission: the way out is a read-only disk (root may write anything).
    cp "$scratch/disk.img" "$scratch/readonly.img"
    chmod 444 "$scratch/readonly.img"
    expect_bad_input "disk without write permission" "^berth: cannot start VM: disk 0 \(.*readonly.img\): cannot open: Permission denied \(errno 13\); make the file writable, or attach the disk read-only$" -- vm run --kernel "$scratch/vmlinuz" --disk "$scratch/readonly.img"
fi
expect_bad_input "disk with no path" "^berth: --disk ',ro': no path before the comma; use PATH\[,format=raw\|qcow2\]\[,ro\]$" -- vm run --kernel "$scratch/vmlinuz" --disk ,ro
expect_bad_input "kernel is a directory" "^berth: cannot start VM: cannot read kernel .*dir.bin: is a directory, not a regular file; give the path of a readable file$" -- vm run --kernel "$scratch/dir.bin"
expect_bad_input "initrd too big for memory with the kernel" "^berth: cannot start VM: memory 40 MiB is too small for kernel .*vmlinuz with initrd .*initrd-33M: .*; give the guest [0-9]+ MiB or more$" -- vm run --kernel "$scratch/vmlinuz" --initrd "$scratch/initrd-33M" --memory 40M
expect_bad_input "trace file in a missing directory" "^berth: cannot start VM: trace file .*no-such-dir/t.json: cannot create: No such file or directory \(errno 2\); give a writable path$" -- vm run --firmware "$HELLO" --trace "$scratch/no-such-dir/t.json"
expect_bad_input "lesson: --cpus for a firmware-machine lesson" "^berth: --cpus: lesson 3 runs on the firmware machine, which has one vCPU; lessons 7 and 8 take --cpus$" -- lesson 3 --cpus 2
expect_bad_input "--module without --kernel" "--module requires --kernel" -- vm run --firmware "$HELLO" --module "$HELLO"
expect_bad_input "lesson: trace file in a missing directory" "^berth: cannot start lesson 1: trace file .*no-such-dir/t.json: cannot create: " -- lesson 1 --trace "$scratch/no-such-dir/t.json"
expect_bad_input "long command line" "^berth: cannot start VM: kernel command line is [0-9]+ bytes, kernel .*vmlinuz accepts at most 2047; give fewer kernel parameters$" -- vm run --kernel "$scratch/vmlinuz" --cmdline "$(head -c 2100 /dev/zero | tr '\0' x)"
# Disk images (--image): berth reads /boot out of the ext4 file system before KVM.
mke2fs=$(PATH=$PATH:/usr/sbin:/sbin command -v mke2fs)
# make_ext4 IMAGE TREE: an 8 MiB ext4 image of directory TREE.
make_ext4() { "$mke2fs" -q -F -t ext4 -d "$2" "$1" 8M >/dev/null 2>&1; }
mkdir -p "$scratch/tree-nokernel/etc" "$scratch/tree-noinitrd/boot"
echo guest >"$scratch/tree-nokernel/etc/hostname"
cp "$scratch/vmlinuz" "$scratch/tree-noinitrd/boot/vmlinuz-6.1.0-18-amd64"
make_ext4 "$scratch/nokernel.img" "$scratch/tree-nokernel"
make_ext4 "$scratch/noinitrd.img" "$scratch/tree-noinitrd"
cp "$scratch/nokernel.img" "$scratch/badmagic.img"
printf '\0\0' | dd of="$scratch/badmagic.img" bs=1 seek=1080 conv=notrunc status=none
cp "$scratch/nokernel.img" "$scratch/badsuper.img"
printf '\036' | dd of="$scratch/badsuper.img" bs=1 seek=1048 conv=notrunc status=none
expect_bad_input "missing image" "cannot open disk image .*no-such.img" -- vm run --image "$scratch/no-such.img"
expect_bad_input "unreadable image" "cannot open disk image" -- vm run --image "$unreadable"
expect_bad_input "zero-length image" "disk image .*empty.img: is 0 bytes, less than one 512-byte sector" -- vm run --image "$scratch/empty.img"
expect_bad_input "image not ext4" "disk image .*not-a-kernel is not an ext2/3/4 file system" -- vm run --image "$scratch/not-a-kernel"
expect_bad_input "image superblock magic overwritten" "badmagic.img is not an ext2/3/4" -- vm run --image "$scratch/badmagic.img"
expect_bad_input "image superblock corrupt" "badsuper.img has a corrupt ext4 file system.*e2fsck" -- vm run --image "$scratch/badsuper.img"
expect_bad_input "image without a kernel" "nokernel.img has no kernel" -- vm run --image "$scratch/nokernel.img"
expect_bad_input "image kernel without initrd" "noinitrd.img has kernel '/boot/vmlinuz-6.1.0-18-amd64' but no initrd" -- vm run --image "$scratch/noinitrd.img"
expect_bad_input "image ,ro" "^berth: --image '.*nokernel.img,ro': ,ro cannot boot: the image is the guest's root disk, attached read-write; drop ,ro, add --ephemeral or boot a writable copy$" -- vm run --image "$scratch/nokernel.img,ro"
expect_bad_input "image unknown format" "^berth: --image '.*nokernel.img,format=vmdk': unknown disk format 'vmdk'" -- vm run --image "$scratch/nokernel.img,format=vmdk"
# Partitioned disks (sfdisk, from fdisk): a GPT with only an EFI system partition.
truncate -s 8M "$scratch/gpt-noroot.img"
printf 'label: gpt\nstart=2048, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n' |
    PATH=$PATH:/usr/sbin:/sbin sfdisk -q "$scratch/gpt-noroot.img" >/dev/null
# image info lists the partitions (not an error, but the same disk).
if "$BERTH" image info "$scratch/gpt-noroot.img" >"$scratch/out" 2>&1 &&
   grep -qx "partitions: GPT (disk id [0-9a-f-]*)" "$scratch/out" &&
   grep -qE "^  1: offset 1048576 bytes, [0-9.]+ [KM]iB, type c12a7328-f81f-11d2-ba4b-00a0c93ec93b, PARTUUID=[0-9a-f-]{36}$" "$scratch/out"; then
    tap_ok "image info lists a GPT's partitions"
else
    tap_not_ok "image info lists a GPT's partitions"
    tap_diag <"$scratch/out"
fi
expect_bad_input "partitioned image without a Linux root" "^berth: cannot start VM: disk image .*gpt-noroot.img: its GPT partition table has no Linux root file system \(no ext2/3/4 partition; partitions: 1 EFI system\); give an image with an ext4 root, or boot with --kernel and --disk$" -- vm run --image "$scratch/gpt-noroot.img"
expect_bad_input "--ephemeral without --image" "--ephemeral requires --image" -- vm run --kernel "$scratch/vmlinuz" --ephemeral
qemu-img create -q -f qcow2 "$scratch/plain.qcow2" 8M
expect_bad_input "--ephemeral over a qcow2 image without format=qcow2" "^berth: --image '.*plain.qcow2' --ephemeral: starts with a qcow2 header, and berth never takes a disk's format from its content; add ,format=qcow2" -- vm run --image "$scratch/plain.qcow2" --ephemeral
# cloud-init seed flags: checked before the guest runs.
printf -- '-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n' >"$scratch/id_ed25519"
expect_bad_input "--ssh-key given a private key" "^berth: --ssh-key '.*id_ed25519' is a private key; give the public key \(the .pub file next to it\)$" -- vm run --kernel "$scratch/vmlinuz" --ssh-key "$scratch/id_ed25519"
expect_bad_input "--ssh-key unreadable" "no-such.pub" -- vm run --kernel "$scratch/vmlinuz" --ssh-key "$scratch/no-such.pub"
expect_bad_input "--user-data with --password" "^berth: --user-data is a whole cloud-config, used as it is" -- vm run --kernel "$scratch/vmlinuz" --user-data "$scratch/id_ed25519" --password x
expect_bad_input "--hostname not a DNS label" "^berth: --hostname 'a b': give a host name of letters, digits and dashes" -- vm run --kernel "$scratch/vmlinuz" --hostname "a b"
expect_bad_input "--ssh-key without a Linux guest" "--ssh-key: needs --kernel or --image" -- vm run --firmware "$HELLO" --ssh-key "$scratch/id_ed25519"
expect_bad_input "image with kernel" "--kernel excludes --image" -- vm run --image "$scratch/noinitrd.img" --kernel "$scratch/vmlinuz"
expect_bad_input "disk without a Linux guest" "--disk: needs --kernel or --image" -- vm run --firmware "$HELLO" --disk "$scratch/disk.img"
# berth bench startup: checked before anything is started (no KVM, no rig, no container).
mkdir -p "$scratch/cpio/bin"
echo '#!/bin/sh' >"$scratch/cpio/init"
ln -s busybox "$scratch/cpio/bin/sh"
(cd "$scratch/cpio" && find . | cpio -o -H newc --quiet >"$scratch/no-berth-init.cpio")
echo 'sh -c "$berth_run"' >>"$scratch/cpio/init"
(cd "$scratch/cpio" && find . | cpio -o -H newc --quiet >"$scratch/berth-init.cpio")
head -c 4096 /dev/zero >"$scratch/fake.ext4"
printf '\x53\xef' | dd of="$scratch/fake.ext4" bs=1 seek=1080 conv=notrunc status=none
expect_bad_input "bench: --runs 0" "--runs 0: give at least 1" -- bench startup --runs 0
expect_bad_input "bench: unwritable --json" "--json file .*no-such-dir/out.json: cannot create: No such file or directory" -- bench startup --runs 1 --kernel "$scratch/vmlinuz" --json "$scratch/no-such-dir/out.json"
expect_bad_input "bench: --svg is a directory" "--svg file .*dir.bin is a directory, not a regular file" -- bench startup --runs 1 --kernel "$scratch/vmlinuz" --svg "$scratch/dir.bin"
expect_bad_input "bench: ext4 image cannot serve both modes" "is an ext4 disk image, which cannot serve both modes" -- bench startup --kernel "$scratch/vmlinuz" --image "$scratch/fake.ext4"
expect_bad_input "bench: image is no initramfs" "is not an initramfs .* cannot serve both modes" -- bench startup --kernel "$scratch/vmlinuz" --image "$scratch/not-a-kernel"
expect_bad_input "bench: initramfs without berth's /init" "cannot serve as the VM: its /init does not run berth_run" -- bench startup --kernel "$scratch/vmlinuz" --image "$scratch/no-berth-init.cpio"
expect_bad_input "bench: kernel not a bzImage" "not-a-kernel is not a bzImage" -- bench startup --kernel "$scratch/not-a-kernel"
expect_bad_input "bench: --initrd without --rootfs" "--initrd requires --rootfs" -- bench startup --initrd "$scratch/no-berth-init.cpio"
expect_bad_input "bench: rootfs without /bin/sh" "--rootfs '.*dir.bin' has no /bin/sh" -- bench startup --kernel "$scratch/vmlinuz" --initrd "$scratch/berth-init.cpio" --rootfs "$scratch/dir.bin"
expect_bad_input "bench: --peers" "--peers: some" -- bench startup --peers some
# berth image build: checked before any script runs.
expect_bad_input "image build output directory missing" "-o .*no-such-dir/out.img: directory .* does not exist" -- image build busybox-disk -o "$scratch/no-such-dir/out.img"
expect_bad_input "image build output is a directory" "-o .*dir.bin is a directory" -- image build initramfs -o "$scratch/dir.bin"
expect_bad_input "image build size too small" "--size 1M is too small for a busybox image" -- image build busybox-disk -o "$scratch/out.img" --size 1M
expect_bad_input "image build size not a size" "--size 'big' is not a size" -- image build debian -o "$scratch/out.img" --size big
expect_bad_input "image build debian without -o" "--output is required" -- image build debian
expect_bad_input "image build busybox-disk missing kernel" "--kernel: File does not exist" -- image build busybox-disk -o "$scratch/out.img" --kernel "$scratch/no-such-kernel"
# berth image convert: bad inputs are refused and no output file is left.
printf 'QFI\xfb\0\0\0\x09' >"$scratch/convert-v9.qcow2"
head -c 4096 /dev/zero >>"$scratch/convert-v9.qcow2"
expect_bad_input "image convert of a missing file" "image '.*/nonexistent': cannot open" -- image convert "$scratch/nonexistent" "$scratch/converted.img"
expect_bad_input "image convert to an unknown format" "--output-format: vmdk not in" -- image convert -O vmdk "$scratch/empty.bin" "$scratch/converted.img"
expect_bad_input "image convert of a qcow2-looking file without -f" "starts with a qcow2 header, and berth never takes a format" -- image convert "$scratch/convert-v9.qcow2" "$scratch/converted.img"
expect_bad_input "image convert of a qcow2 of an unknown version" "berth reads qcow2 versions 2 and 3" -- image convert -f qcow2 "$scratch/convert-v9.qcow2" "$scratch/converted.img"
if [[ -e $scratch/converted.img ]]; then tap_not_ok "a refused image convert left its output"; else tap_ok "no refused image convert left its output"; fi

# berth image create and info: qcow2 images.
expect_bad_input "image create without a size" "image create needs --size, or --backing" -- image create "$scratch/new.qcow2"
expect_bad_input "image create with an empty size" "--size: the value is empty" -- image create --size "" "$scratch/new.qcow2"
expect_bad_input "image create with size 0" "--size '0' is out of range" -- image create --size 0 "$scratch/new.qcow2"
expect_bad_input "image create over a missing base" "--backing '.*no-such.raw': cannot open" -- image create --backing "$scratch/no-such.raw" "$scratch/new.qcow2"
expect_bad_input "image create over itself" "is also an input of this run" -- image create --backing "$scratch/disk.img" "$scratch/disk.img"
expect_bad_input "image info of a missing file" "image .*no-such.qcow2.: cannot open" -- image info "$scratch/no-such.qcow2"
expect_bad_input "image build unknown kind" "^berth: 'floppy' is not a subcommand of berth image build \(see berth image build --help\)$" -- image build floppy
# Linux guest devices.
expect_bad_input "vm: unknown --console" "--console: foo not in" -- vm run --kernel "$scratch/vmlinuz" --console foo
expect_bad_input "vm: --console without a Linux guest" "--console: needs --kernel or --image" -- vm run --firmware "$scratch/vmlinuz" --console hvc0
expect_bad_input "vm: unknown --reboot" "--reboot: later not in" -- vm run --kernel "$scratch/vmlinuz" --reboot later
expect_bad_input "vm: unknown --seccomp" "--seccomp: maybe not in \\{on,off\\}" -- vm run --kernel "$scratch/vmlinuz" --seccomp maybe
expect_bad_input "lesson: unknown --seccomp" "--seccomp: no not in \\{on,off\\}" -- lesson 1 --seccomp no
# --jail DIR (docs/sandbox.md): refused before any namespace or /dev/kvm, DIR untouched.
mkdir "$scratch/jail" "$scratch/jail-inside"
: >"$scratch/jail-file"
cp "$scratch/vmlinuz" "$scratch/jail-inside/vmlinuz"
expect_bad_input "--jail DIR is a file" "^berth: --jail '.*jail-file': not a directory; give an empty directory" -- vm run --kernel "$scratch/vmlinuz" --jail "$scratch/jail-file"
expect_bad_input "--jail DIR without its parent" "^berth: --jail '.*no-such/jail': its parent directory '.*no-such' does not exist" -- vm run --kernel "$scratch/vmlinuz" --jail "$scratch/no-such/jail"
expect_bad_input "--jail /" "the host's root cannot be the jail" -- vm run --kernel "$scratch/vmlinuz" --jail /
expect_bad_input "--jail: a kernel that cannot be read" "^berth: --kernel '.*big.bin/child': cannot read it: Not a directory" -- vm run --kernel "$unreadable" --jail "$scratch/jail"
expect_bad_input "--jail: a disk that is a directory" "^berth: --disk '.*dir.bin': not a file or block device; the jail binds files only$" -- vm run --kernel "$scratch/vmlinuz" --disk "$scratch/dir.bin" --jail "$scratch/jail"
expect_bad_input "--jail: a file inside the jail directory" "lies inside the jail directory" -- vm run --kernel "$scratch/jail-inside/vmlinuz" --jail "$scratch/jail-inside"
expect_bad_input "--jail with --net bridge" "^berth: --net 'bridge': cannot go with --jail: a tap needs root's network set-up" -- vm run --kernel "$scratch/vmlinuz" --net bridge --jail "$scratch/jail"
expect_bad_input "--jail with --trace" "--trace: cannot go with --jail" -- vm run --kernel "$scratch/vmlinuz" --trace "$scratch/t.json" --jail "$scratch/jail"
expect_bad_input "--jail with --restore" "--restore: cannot go with --jail" -- vm run --restore "$scratch/jail" --jail "$scratch/jail"
expect_bad_input "unknown --restore-memory" "--restore-memory: fast not in \\{working-set,lazy,eager\\}" -- vm run --restore "$scratch/jail" --restore-memory fast
expect_bad_input "--restore-memory without --restore" "--restore-memory requires --restore" -- vm run --kernel "$scratch/vmlinuz" --restore-memory eager
expect_bad_input "--jail with --ephemeral" "--ephemeral: cannot go with --jail" -- vm run --image "$scratch/big.bin" --ephemeral --jail "$scratch/jail"
if [[ -z $(ls -A "$scratch/jail") && ! -e $scratch/no-such && $(ls "$scratch/jail-inside") == vmlinuz ]]; then
    tap_ok "refused --jail runs leave the directories as they were"
else
    tap_not_ok "refused --jail runs leave the directories as they were"
fi
expect_bad_input "vm: --hugepages with odd memory" "cannot start VM: memory 255 MiB is not a multiple of 2 MiB, the huge page size; give a multiple of 2 MiB or use normal pages$" -- vm run --kernel "$scratch/vmlinuz" --hugepages --memory 255M
: "$unreadable_note"

# berth builds CLI11's options only for the command named in argv[1] (vmm/cli/main.cpp);
# BERTH_CLI_FULL_TREE=1 builds them all, as for `berth --help`. Both must print the
# same bytes and exit the same way.
# expect_same_as_full_tree NAME FIRST_LINE -- ARGS...: the same stdout, stderr and status
# either way, and the first line of the output (stdout, else stderr) is FIRST_LINE.
expect_same_as_full_tree() {
    local name=$1 first_line=$2
    shift 3
    local status=0 full_status=0
    "$BERTH" "$@" >"$scratch/out" 2>"$scratch/err" || status=$?
    BERTH_CLI_FULL_TREE=1 "$BERTH" "$@" >"$scratch/full-out" 2>"$scratch/full-err" || full_status=$?
    local first
    first=$(cat "$scratch/out" "$scratch/err" | head -n 1)
    if [[ $status -eq $full_status && "$first" == "$first_line" ]] &&
        cmp -s "$scratch/out" "$scratch/full-out" && cmp -s "$scratch/err" "$scratch/full-err"; then
        tap_ok "$name"
    else
        tap_not_ok "$name (status $status, full tree $full_status; first line: $first)"
        diff "$scratch/full-out" "$scratch/out" | tap_diag "stdout: "
        diff "$scratch/full-err" "$scratch/err" | tap_diag "stderr: "
    fi
}
not_expected="berth: The following argument was not expected: --bogus (see berth --help)"
expect_same_as_full_tree "only ct built: ct run --bogus" "$not_expected" -- ct run --bogus
expect_same_as_full_tree "only vm built: vm run --bogus" "$not_expected" -- vm run --firmware "$HELLO" --bogus
expect_same_as_full_tree "unknown command" "berth: unknown command 'bogus' (see berth --help)" -- bogus
top_help="berth: run a Linux workload as a KVM virtual machine or as a container"
expect_same_as_full_tree "berth --help" "$top_help" -- --help
expect_same_as_full_tree "berth with no command" "berth: A subcommand is required (see berth --help)" --
expect_same_as_full_tree "ct run --help" "Run CMD in new namespaces with DIR as its root. Exit status: the command's (128+N for signal N), 2 for bad input, 125 when the runtime failed, 126 when CMD cannot be executed, 127 when it is not found" -- ct run --help
expect_same_as_full_tree "vm run --help" "Boot a guest and attach its serial console to stdio" -- vm run --help
expect_same_as_full_tree "ct --help" "Run a command as a container (namespaces, cgroups, pivot_root)" -- ct --help
expect_same_as_full_tree "a sibling command's name inside ct" "berth: 'doctor' is not a subcommand of berth ct (see berth ct --help)" -- ct doctor
expect_same_as_full_tree "a sibling command's name after vm run" "berth: The following argument was not expected: doctor (see berth --help)" -- vm run --firmware "$HELLO" doctor
expect_same_as_full_tree "ct --version" "berth: unknown option '--version' for berth ct; give a command first (see berth ct --help)" -- ct --version
expect_same_as_full_tree "ct run without a value" "berth: --memory: 1 required TEXT missing (see berth --help)" -- ct run --memory
expect_same_as_full_tree "ct run without a root" "berth: give exactly one of --rootfs DIR (the container's files), --image IMG (a raw ext4 image) or --oci DIR[:TAG] (an OCI image layout)" -- ct run -- /bin/true
expect_same_as_full_tree "lesson --help" "Run a hardware-virtualization lesson (docs/lessons/); without N, list them" -- lesson --help
expect_same_as_full_tree "image build without a kind" "berth: A subcommand is required (see berth image build --help)" -- image build
expect_same_as_full_tree "bench startup --help" "Start the same workload (sh -c 'echo berth-bench-marker') N times as a berth VM and as a berth container from one root filesystem, and with QEMU microvm, runc, crun and bwrap where they run; print min/median/p95 per phase (see docs/bench-startup.md). Without KVM that boots Linux the VM half runs in tools/kvm-rig (emulated)" -- bench startup --help
expect_same_as_full_tree "doctor --bogus" "$not_expected" -- doctor --bogus
tap_done
