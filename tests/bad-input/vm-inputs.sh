#!/usr/bin/env bash
# Hostile and careless inputs to the VM side and the benchmark: special files where a
# file is expected, huge sparse files, mutated bzImage headers and ext4 images, outputs
# that name an input, one file attached twice. Each run must end with exit status 2 and
# exactly one line on stderr, no sanitizer report, within 20 s, and leave every input
# file as it was (and no temporary file beside it). Every case is refused before
# /dev/kvm is opened, so this runs on any host. TAP output for meson.
set -u
# shellcheck source=../lib/tap.sh
. "$(dirname "$0")/../lib/tap.sh"
BERTH=${BERTH:?set BERTH to the berth binary}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
in=$scratch/in
mkdir "$in"

# fingerprints: one line per entry of $in; a huge sparse file by size and times (reading
# 100 GiB of holes would take minutes), any other regular file by its contents.
fingerprints() {
    local f
    for f in "$in"/* "$in"/.[!.]*; do
        [[ -e $f || -L $f ]] || continue
        if [[ -L $f || ! -f $f ]]; then
            stat -c '%n %F' "$f"
        elif (($(stat -c %s "$f") > 64 * 1024 * 1024)); then
            stat -c '%n %s %Y %Z' "$f"
        else
            sha256sum "$f"
        fi
    done
}

# refused NAME STATUS PATTERN -- ARGS...: berth ARGS exits STATUS with one stderr line
# matching PATTERN, no sanitizer report, no hang, and $in unchanged.
refused() {
    local name=$1 want=$2 pattern=$3
    shift 4
    local before after status=0
    before=$(fingerprints)
    timeout 20 "$BERTH" "$@" </dev/null >"$scratch/out" 2>"$scratch/err" || status=$?
    after=$(fingerprints)
    local lines problem=""
    lines=$(wc -l <"$scratch/err")
    if ((status == 124)); then
        problem="hung (killed after 20 s)"
    elif ((status != want)); then
        problem="status $status, not $want"
    elif ((lines != 1)); then
        problem="$lines stderr lines"
    elif grep -qE 'Sanitizer|runtime error:' "$scratch/err"; then
        problem="sanitizer report"
    elif ! grep -qE -- "$pattern" "$scratch/err"; then
        problem="message does not match /$pattern/"
    elif [[ $before != "$after" ]]; then
        problem="an input changed: $(diff <(echo "$before") <(echo "$after") | tr '\n' ' ')"
    fi
    if [[ -z $problem ]]; then
        tap_ok "$name"
    else
        tap_not_ok "$name ($problem)"
        tap_diag <"$scratch/err"
    fi
}

make_bzimage() { python3 "$(dirname "$0")/../lib/make-bzimage.py" "$@"; }

make_bzimage "$in/vmlinuz"
make_bzimage "$in/cmdline-size-0" cmdline_size=0
make_bzimage "$in/pref-huge" pref_address=0xffffffff00000000
make_bzimage "$in/pref-wraps" pref_address=0xffffffffff000000 init_size=0x2000000
make_bzimage "$in/init-size-huge" init_size=0xffffffff
make_multiboot() { python3 "$(dirname "$0")/../lib/make-multiboot.py" "$@"; }
make_multiboot "$in/mb.elf"
make_multiboot "$in/mb-checksum.elf" checksum=0x12345678
make_multiboot "$in/mb-video.elf" flags=0x7
make_multiboot "$in/mb-flag5.elf" flags=0x23
make_multiboot "$in/mb-high.elf" paddr=0x20000000
make_multiboot "$in/mb-bios.elf" paddr=0xf0000
make_multiboot "$in/mb-info.elf" paddr=0x10000
make_pvh() { python3 "$(dirname "$0")/../lib/make-pvh-elf.py" "$@"; }
make_pvh "$in/pvh.elf"
make_pvh "$in/pvh-no-note.elf" entry=-1
make_pvh "$in/pvh-entry-out.elf" entry=0x3000000
make_pvh "$in/pvh-truncated.elf" truncate=0x1800
make_pvh "$in/pvh-overlap.elf" overlap=0x1000800
make_pvh "$in/pvh-high.elf" paddr=0x20000000
mkfifo "$in/fifo"
mkdir "$in/dir"
truncate -s 100G "$in/sparse-100G"
truncate -s 8M "$in/disk.img"
ln -s disk.img "$in/disk-link.img"
printf 'a trace the user keeps\n' >"$in/old-trace.json"
printf 'hello\n' >"$in/firmware.bin"

# Disk images with /boot: a good one, and one whose kernel's inode claims 2 GiB.
mke2fs=$(PATH=$PATH:/usr/sbin:/sbin command -v mke2fs)
debugfs=$(PATH=$PATH:/usr/sbin:/sbin command -v debugfs)
mkdir -p "$scratch/tree/boot"
cp "$in/vmlinuz" "$scratch/tree/boot/vmlinuz-6.1.0-18-amd64"
printf 'initrd' >"$scratch/tree/boot/initrd.img-6.1.0-18-amd64"
"$mke2fs" -q -F -t ext4 -d "$scratch/tree" "$in/boot.img" 8M >/dev/null 2>&1
cp "$in/boot.img" "$in/huge-inode.img"
"$debugfs" -w -R "sif /boot/vmlinuz-6.1.0-18-amd64 size 0x80000000" "$in/huge-inode.img" \
    >/dev/null 2>&1

k=$in/vmlinuz

# 1. Special files where a file is expected: refused, never waited on.
refused "kernel is a FIFO" 2 "kernel .*fifo: is a FIFO \(named pipe\), not a regular file" -- vm run --kernel "$in/fifo"
refused "initrd is a FIFO" 2 "initrd .*fifo: is a FIFO" -- vm run --kernel "$k" --initrd "$in/fifo"
refused "firmware is a FIFO" 2 "firmware .*fifo: is a FIFO" -- vm run --firmware "$in/fifo"
refused "image is a FIFO" 2 "disk image .*fifo: is a FIFO" -- vm run --image "$in/fifo"
refused "disk is a FIFO" 2 "disk 0 \(.*fifo\): is a FIFO" -- vm run --kernel "$k" --disk "$in/fifo"
refused "read-only disk is a FIFO" 2 "disk 0 \(.*fifo\): is a FIFO" -- vm run --kernel "$k" --disk "$in/fifo,ro"
refused "trace is a FIFO" 2 "trace file .*fifo is a FIFO" -- vm run --kernel "$k" --trace "$in/fifo"
refused "kernel is /dev/zero" 2 "kernel /dev/zero: is a character device" -- vm run --kernel /dev/zero
refused "initrd is /dev/zero" 2 "initrd /dev/zero: is a character device" -- vm run --kernel "$k" --initrd /dev/zero
refused "firmware is /dev/zero" 2 "firmware /dev/zero: is a character device" -- vm run --firmware /dev/zero
refused "disk is /dev/zero" 2 "disk 0 \(/dev/zero\): is a character device" -- vm run --kernel "$k" --disk /dev/zero
refused "initrd is a directory" 2 "initrd .*dir: is a directory" -- vm run --kernel "$k" --initrd "$in/dir"
refused "trace is a directory" 2 "trace file .*dir is a directory" -- vm run --kernel "$k" --trace "$in/dir"
refused "trace is /dev/null" 2 "trace file /dev/null is a character device" -- vm run --kernel "$k" --trace /dev/null
refused "bench: --from-json is a FIFO" 2 "from-json .*fifo: is a FIFO" -- bench startup --from-json "$in/fifo"
refused "bench: --kernel is a FIFO" 2 "kernel .*fifo: is a FIFO" -- bench startup --kernel "$in/fifo"
refused "bench: --image is a FIFO" 2 "fifo: is a FIFO" -- bench startup --kernel "$k" --image "$in/fifo"

# 2. Outputs that are inputs: refused before anything is written.
refused "trace is the image" 2 "trace file .*boot.img is also an input of this run" -- vm run --image "$in/boot.img" --trace "$in/boot.img"
refused "trace is the kernel" 2 "trace file .*vmlinuz is also an input of this run" -- vm run --kernel "$k" --trace "$k"
refused "trace is a disk, through a symlink" 2 "trace file .*disk-link.img is also an input" -- vm run --kernel "$k" --disk "$in/disk.img" --trace "$in/disk-link.img"
refused "trace kept when the run fails" 2 "disk 0 .*no-such.img" -- vm run --kernel "$k" --disk "$in/no-such.img" --trace "$in/old-trace.json"
printf '{}' >"$in/saved.json"
refused "bench: --svg is the --from-json file" 2 "svg file .*saved.json is also an input" -- bench startup --from-json "$in/saved.json" --svg "$in/saved.json"

# 4. Sizes checked before reading: no memory spent on a huge file.
refused "initrd of 100 GiB (sparse)" 2 "initrd .*sparse-100G \(100 GiB\) is larger than the guest's memory" -- vm run --kernel "$k" --initrd "$in/sparse-100G"
refused "kernel of 100 GiB (sparse)" 2 "kernel .*sparse-100G: is 107374182400 bytes, more than a kernel can be" -- vm run --kernel "$in/sparse-100G"
refused "firmware of 100 GiB (sparse)" 2 "firmware .*sparse-100G: is 107374182400 bytes, more than a firmware can be" -- vm run --firmware "$in/sparse-100G"
refused "image kernel inode claims 2 GiB" 2 "huge-inode.img: '/boot/vmlinuz-6.1.0-18-amd64' claims 2147483648 bytes, more than the whole" -- vm run --image "$in/huge-inode.img"

# 6. Header values: the message blames the header, with sizes that make sense.
refused "cmdline_size 0 blames the kernel, not --cmdline" 2 "cmdline-size-0 accepts a command line of at most 0 bytes .*header is corrupt" -- vm run --kernel "$in/cmdline-size-0"
refused "pref_address beyond 4 GiB" 2 "pref-huge asks for .*beyond the 3 GiB of RAM below 4 GiB" -- vm run --kernel "$in/pref-huge"
refused "pref_address + init_size wraps around" 2 "pref-wraps asks for .*header is corrupt" -- vm run --kernel "$in/pref-wraps"
refused "init_size of 4 GiB" 2 "init-size-huge asks for 4294967295 bytes" -- vm run --kernel "$in/init-size-huge"
# 6b. Multiboot kernels: the header, where the segments go, the modules.
# 6c. PVH kernels (an ELF vmlinux): the entry note, the segments, where they go.
refused "pvh: no entry note" 2 "PVH kernel .*pvh-no-note.elf has no PVH entry note \(XEN_ELFNOTE_PHYS32_ENTRY\) and no Multiboot header.*CONFIG_PVH=y" -- vm run --kernel "$in/pvh-no-note.elf"
refused "pvh: entry outside the loaded segments" 2 "pvh-entry-out.elf has its PVH entry point 0x3000000 outside the code its segments load" -- vm run --kernel "$in/pvh-entry-out.elf"
refused "pvh: truncated ELF" 2 "pvh-truncated.elf has a corrupt ELF segment 0 \(4096 bytes at offset 4096" -- vm run --kernel "$in/pvh-truncated.elf"
refused "pvh: overlapping segments" 2 "pvh-overlap.elf has ELF segments that overlap: 0x1000000-0x1002000 and 0x1000800-0x1001800" -- vm run --kernel "$in/pvh-overlap.elf"
refused "pvh: segment beyond --memory" 2 "pvh-high.elf has a segment at 0x20000000-0x20002000, outside the guest's usable RAM .* memory 256 MiB" -- vm run --kernel "$in/pvh-high.elf"
refused "pvh: initrd of 100 GiB (sparse)" 2 "cannot read initrd .*sparse-100G: is 100 GiB, larger than the guest's memory" -- vm run --kernel "$in/pvh.elf" --initrd "$in/sparse-100G"
refused "pvh: --module is for Multiboot kernels" 2 "--module .*modules are for Multiboot kernels, and kernel .*pvh.elf is not one" -- vm run --kernel "$in/pvh.elf" --module "$in/pvh.elf"
refused "multiboot: bad checksum" 2 "Multiboot kernel .*mb-checksum.elf has a Multiboot header at offset 0x1000 with a bad checksum: 0x12345678" -- vm run --kernel "$in/mb-checksum.elf"
refused "multiboot: video mode required" 2 "mb-video.elf requires a video mode \(Multiboot header flags bit 2\)" -- vm run --kernel "$in/mb-video.elf"
refused "multiboot: unknown required flag" 2 "mb-flag5.elf requires something berth does not know \(Multiboot header flags bit 5" -- vm run --kernel "$in/mb-flag5.elf"
refused "multiboot: segment beyond --memory" 2 "mb-high.elf has a segment at 0x20000000-0x20002000, outside the guest's usable RAM .* --memory 256 MiB" -- vm run --kernel "$in/mb-high.elf"
refused "multiboot: segment in the BIOS area" 2 "mb-bios.elf has a segment at 0xf0000-0xf2000, outside the guest's usable RAM" -- vm run --kernel "$in/mb-bios.elf"
refused "multiboot: segment over berth's boot information" 2 "mb-info.elf has a segment at 0x10000-0x12000 that overlaps berth's boot information" -- vm run --kernel "$in/mb-info.elf"
refused "multiboot: --memory 1M" 2 "memory 1 MiB is too small for Multiboot kernel .*mb.elf: .*give the guest 2 MiB or more" -- vm run --kernel "$in/mb.elf" --memory 1M
refused "multiboot: missing module file" 2 "cannot read module .*no-such.bin: .*No such file" -- vm run --kernel "$in/mb.elf" --module "$in/no-such.bin,args"
refused "multiboot: module of 100 GiB (sparse)" 2 "cannot read module .*sparse-100G: is 100 GiB, larger than the guest's memory" -- vm run --kernel "$in/mb.elf" --module "$in/sparse-100G"
refused "multiboot: module without a file" 2 "--module ',x': no file before the comma" -- vm run --kernel "$in/mb.elf" --module ",x"
refused "--module with a bzImage" 2 "--module .*firmware.bin: modules are for Multiboot kernels, and kernel .*vmlinuz is not one" -- vm run --kernel "$k" --module "$in/firmware.bin"
refused "unknown option before a command names it" 2 "unknown option '--bogus'" -- --bogus
refused "unknown image kind names it" 2 "'bogus' is not a subcommand of berth image build" -- image build bogus

# 7. One file attached twice, at least once read-write: refused.
refused "image also given as --disk" 2 "disk 1 .*boot.img.*same file as another disk" -- vm run --image "$in/boot.img" --disk "$in/boot.img"
refused "the same --disk twice" 2 "disk 1 .*disk.img.*same file as another disk" -- vm run --kernel "$k" --disk "$in/disk.img" --disk "$in/disk.img"
refused "a --disk and a symlink to it" 2 "disk 1 .*disk-link.img.*same file as another disk" -- vm run --kernel "$k" --disk "$in/disk.img" --disk "$in/disk-link.img"
refused "a --disk read-only and read-write" 2 "disk 1 .*same file as another disk" -- vm run --kernel "$k" --disk "$in/disk.img,ro" --disk "$in/disk.img"

# 8. Networking flags: one line naming the flag and the fix, before /dev/kvm.
refused "unknown --net backend" 2 "^berth: --net 'tap0': unknown network backend 'tap0'; use user .* or none$" -- vm run --kernel "$k" --net tap0
refused "--net with a control byte" 2 "^berth: --net 'x\\\\ny': unknown network backend" -- vm run --kernel "$k" --net $'x\ny'
refused "empty --net" 2 "^berth: --net: the value is empty" -- vm run --kernel "$k" --net ""
refused "--publish without a NIC" 2 "^berth: --publish '8080:80': publishing a port needs a NIC with user-mode networking; add --net user \\(a guest on a bridge needs none" -- vm run --kernel "$k" --publish 8080:80
refused "--publish with --net none" 2 "^berth: --publish '8080:80': .*add --net user " -- vm run --kernel "$k" --net none --publish 8080:80
refused "--publish with only --net bridge" 2 "^berth: --publish '8080:80': .*add --net user \\(a guest on a bridge needs none: the host reaches its own address\\)$" -- vm run --kernel "$k" --net bridge --publish 8080:80
refused "--net bridge with an unknown option" 2 "^berth: --net 'bridge,speed=fast': unknown option 'speed=fast'; bridge takes =NAME, ip=CIDR and vhost=on\\|off$" -- vm run --kernel "$k" --net bridge,speed=fast
refused "--net bridge,vhost= neither on nor off" 2 "^berth: --net 'bridge,vhost=maybe': 'vhost=maybe' is neither vhost=on nor vhost=off; give vhost=on " -- vm run --kernel "$k" --net bridge,vhost=maybe
refused "--net user,vhost=on (no tap)" 2 "^berth: --net 'user,vhost=on': vhost= needs a tap backend; --net user has no tap: use --net bridge,vhost=on \\(root, a tap on berth0\\) or drop vhost=$" -- vm run --kernel "$k" --net user,vhost=on
refused "--net none,vhost=on (no tap)" 2 "^berth: --net 'none,vhost=on': vhost= needs a tap backend; --net none has no tap: " -- vm run --kernel "$k" --net none,vhost=on
refused "--net user with an option" 2 "^berth: --net 'user,speed=fast': user takes no options; give --net user$" -- vm run --kernel "$k" --net user,speed=fast
refused "--net bridge= without a name" 2 "^berth: --net 'bridge=': the bridge's name is empty" -- vm run --kernel "$k" --net bridge=
refused "--net bridge,ip= not an address" 2 "^berth: --net 'bridge,ip=10.88.1/16': ip= '10.88.1/16' is not an IPv4 address" -- vm run --kernel "$k" --net bridge,ip=10.88.1/16
refused "--ip without a bridge NIC" 2 "^berth: --ip '10.88.0.5/16': pinning an address needs a NIC on a bridge; add --net bridge" -- vm run --kernel "$k" --net user --ip 10.88.0.5/16
refused "--ip not an address" 2 "^berth: --ip '10.88.0.5' is not an IPv4 address with prefix" -- vm run --kernel "$k" --net bridge --ip 10.88.0.5
refused "--ip outside berth0's network" 2 "^berth: cannot start VM: nic 0 \\(bridge berth0\\): --ip 10.99.0.7/24 is not a host address in berth0's network 10.88.0.0/16; " -- vm run --kernel "$k" --net bridge --ip 10.99.0.7/24
refused "--ip on berth0's own address" 2 "^berth: cannot start VM: nic 0 \\(bridge berth0\\): --ip 10.88.0.1/16 is not a host address" -- vm run --kernel "$k" --net bridge --ip 10.88.0.1/16
refused "--ip twice for one NIC" 2 "^berth: --ip 10.88.0.6/16: --net bridge,ip=10.88.0.5/16 gives the address already" -- vm run --kernel "$k" --net bridge,ip=10.88.0.5/16 --ip 10.88.0.6/16
refused "--net bridge=NAME that does not exist" 2 "^berth: cannot start VM: nic 0 \\(bridge nosuch0\\): --net bridge=nosuch0: there is no network interface 'nosuch0'; create the bridge" -- vm run --kernel "$k" --net bridge=nosuch0
refused "--net bridge=NAME that is not a bridge" 2 "^berth: cannot start VM: nic 0 \\(bridge lo\\): --net bridge=lo: 'lo' is not a bridge; " -- vm run --kernel "$k" --net bridge=lo
refused "--publish with one port" 2 "^berth: --publish '8080': '8080' names one port, not two; give \\[HOSTIP:\\]HOSTPORT:GUESTPORT" -- vm run --kernel "$k" --net user --publish 8080
refused "--publish host port out of range" 2 "^berth: --publish '70000:80': host port 70000 is out of range 1-65535" -- vm run --kernel "$k" --net user --publish 70000:80
refused "--publish guest port 0" 2 "^berth: --publish '8080:0': guest port 0 is out of range 1-65535" -- vm run --kernel "$k" --net user --publish 8080:0
refused "--publish port not a number" 2 "^berth: --publish 'http:80': host port 'http' is not a number" -- vm run --kernel "$k" --net user --publish http:80
refused "--publish bad host address" 2 "^berth: --publish '1.2.3:8080:80': host address '1.2.3' is not an IPv4 address" -- vm run --kernel "$k" --net user --publish 1.2.3:8080:80
refused "--publish unknown protocol" 2 "^berth: --publish '8080:80/sctp': unknown protocol 'sctp'; use /tcp .* or /udp$" -- vm run --kernel "$k" --net user --publish 8080:80/sctp
refused "empty --publish" 2 "^berth: --publish: the value is empty" -- vm run --kernel "$k" --net user --publish ""
# Bridges and taps need root: each case runs in a network namespace of its own (so the
# host's links are never touched), with a bridge brtest on 10.99.0.0/24, a bridge without
# an address, no /dev/net/tun, or without CAP_NET_ADMIN.
if [[ $(id -u) -eq 0 ]] && unshare -n true 2>/dev/null && command -v capsh >/dev/null; then
    real_berth=$BERTH
    cat >"$scratch/in-netns" <<'SH'
#!/bin/sh
# in-netns MODE BERTH ARGS...: BERTH ARGS in a new network (and mount) namespace.
mode=$1
shift
exec unshare -n -m sh -c '
    mode=$1; shift
    # sysfs shows the namespace of whoever mounted it: ours needs its own /sys.
    mount -t sysfs sysfs /sys
    modprobe -q tun 2>/dev/null; modprobe -q bridge 2>/dev/null
    ip link add brtest type bridge && ip addr add 10.99.0.1/24 dev brtest
    ip link add brbare type bridge
    case $mode in
        no-tun) mount -t tmpfs tmpfs /dev/net ;;
        no-cap) exec capsh --drop=cap_net_admin -- -c "exec \"\$0\" \"\$@\"" "$@" ;;
        # A /dev of its own: null and tun only (no-vhost), and a vhost-net that only
        # its owner may open, for root without CAP_DAC_OVERRIDE (vhost-denied).
        no-vhost|vhost-denied)
            mount -t tmpfs tmpfs /dev && mknod -m 666 /dev/null c 1 3 &&
                mkdir /dev/net && mknod -m 666 /dev/net/tun c 10 200 ;;
    esac
    case $mode in
        vhost-denied)
            mknod -m 600 /dev/vhost-net c 10 238 && chown 65534 /dev/vhost-net
            exec capsh --drop=cap_dac_override,cap_dac_read_search -- -c "exec \"\$0\" \"\$@\"" "$@" ;;
    esac
    exec "$@"' sh "$mode" "$@"
SH
    chmod +x "$scratch/in-netns"
    BERTH=$scratch/in-netns
    refused "--ip outside a named bridge's network" 2 "^berth: cannot start VM: nic 0 \\(bridge brtest\\): --ip 10.88.0.5/16 is not a host address in brtest's network 10.99.0.0/24; " -- plain "$real_berth" vm run --kernel "$k" --net bridge=brtest --ip 10.88.0.5/16
    refused "--net bridge=NAME without an IPv4 address" 2 "^berth: cannot start VM: nic 0 \\(bridge brbare\\): --net bridge=brbare: bridge 'brbare' has no IPv4 network .*ip addr add" -- plain "$real_berth" vm run --kernel "$k" --net bridge=brbare
    refused "--net bridge without /dev/net/tun" 2 "^berth: cannot start VM: nic 0 \\(bridge berth0\\): cannot open /dev/net/tun: No such file or directory; load the tun module \\(modprobe tun\\) or use --net user$" -- no-tun "$real_berth" vm run --kernel "$k" --net bridge
    refused "--net bridge,vhost=on without /dev/vhost-net" 2 "^berth: cannot start VM: nic 0 \\(bridge berth0\\): vhost=on: cannot open /dev/vhost-net: No such file or directory; load the vhost_net module \\(modprobe vhost_net\\), or drop vhost=on$" -- no-vhost "$real_berth" vm run --kernel "$k" --net bridge,vhost=on
    refused "--net bridge,vhost=on without access to /dev/vhost-net" 2 "^berth: cannot start VM: nic 0 \\(bridge berth0\\): vhost=on: cannot open /dev/vhost-net: Permission denied; run as root or give this user read-write access to /dev/vhost-net, or drop vhost=on$" -- vhost-denied "$real_berth" vm run --kernel "$k" --net bridge,vhost=on
    refused "--net bridge without CAP_NET_ADMIN" 2 "^berth: cannot start VM: nic 0 \\(bridge berth0\\): cannot create tap bt[0-9]+n0: Operation not permitted; --net bridge needs root \\(or CAP_NET_ADMIN\\), --net user does not$" -- no-cap "$real_berth" vm run --kernel "$k" --net bridge
    BERTH=$real_berth
else
    tap_skip "--net bridge privilege and bridge cases" "need root, unshare -n and capsh (libcap2-bin)"
fi
# A host port something else listens on: refused when the NIC is made, before KVM.
busy_port_file=$scratch/busy-port
python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
time.sleep(60)' "$busy_port_file" &
busy_pid=$!
for _ in $(seq 50); do [[ -s $busy_port_file ]] && break; sleep 0.1; done
busy_port=$(cat "$busy_port_file" 2>/dev/null)
refused "--publish a host port in use" 2 "^berth: cannot start VM: nic 0 \\(user\\): cannot listen on host port 127.0.0.1:$busy_port \\(for guest port 80/tcp\\): Address already in use; publish another host port" -- vm run --kernel "$k" --net user --publish "127.0.0.1:$busy_port:80"
kill "$busy_pid" 2>/dev/null
wait "$busy_pid" 2>/dev/null
# qcow2 disks: hostile headers and tables, each refused naming the structure, the image
# unchanged (qemu-img makes the images; the pokes are big-endian header fields).
poke() {  # poke FILE OFFSET BYTES VALUE: a big-endian field
    python3 -c 'import sys; f=open(sys.argv[1],"r+b"); f.seek(int(sys.argv[2],0)); f.write(int(sys.argv[4],0).to_bytes(int(sys.argv[3]),"big"))' "$@"
}
if command -v qemu-img >/dev/null; then
    qemu-img create -q -f qcow2 "$in/good.qcow2" 1M
    qemu-io -f qcow2 -c 'write -q -P 1 0 4k' "$in/good.qcow2" >/dev/null
    mutant() { cp "$in/good.qcow2" "$in/$1.qcow2"; poke "$in/$1.qcow2" "${@:2}"; }
    head -c 60 "$in/good.qcow2" >"$in/truncated.qcow2"
    mutant cluster-bits 20 4 30
    mutant l1-huge 36 4 0xffffffff
    mutant l1-outside 40 8 0x10000000000
    mutant l1-unaligned 40 8 0x30200
    mutant refcount-outside 48 8 0xffffffffffff0000
    mutant l2-outside 0x30000 8 0x8000010000000000
    mutant refblock-outside 0x10000 8 0x100000000000
    mutant feature 72 8 0x400
    qemu-img create -q -f qcow2 "$in/loop-a.qcow2" 1M
    qemu-img create -q -f qcow2 -b loop-a.qcow2 -F qcow2 "$in/loop-b.qcow2" 1M
    qemu-img rebase -u -b loop-b.qcow2 -F qcow2 "$in/loop-a.qcow2"
    qemu-img create -q -f qcow2 -u -b /etc/passwd -F raw "$in/guest-made.img" 1M
    d="vm run --kernel $k --disk"
    refused "qcow2: truncated header" 2 "disk 0 \(.*truncated.qcow2\): header: truncated" -- $d "$in/truncated.qcow2,format=qcow2"
    refused "qcow2: cluster_bits out of range" 2 "disk 0 \(.*\): header: cluster_bits 30 is out of range" -- $d "$in/cluster-bits.qcow2,format=qcow2"
    refused "qcow2: L1 size overflows" 2 "disk 0 \(.*\): header: L1 table of 4294967295 entries" -- $d "$in/l1-huge.qcow2,format=qcow2"
    refused "qcow2: L1 table outside the file" 2 "disk 0 \(.*\): L1 table at offset 0x10000000000 .*outside the file" -- $d "$in/l1-outside.qcow2,format=qcow2"
    refused "qcow2: L1 table unaligned" 2 "disk 0 \(.*\): L1 table at offset 0x30200: not aligned" -- $d "$in/l1-unaligned.qcow2,format=qcow2"
    refused "qcow2: refcount table outside the file" 2 "disk 0 \(.*\): refcount table at offset .*outside the file" -- $d "$in/refcount-outside.qcow2,format=qcow2"
    refused "qcow2: L2 table outside the file" 2 "disk 0 \(.*\): L1 table entry 0: L2 table at offset 0x10000000000: outside the file" -- $d "$in/l2-outside.qcow2,format=qcow2"
    refused "qcow2: refcount block outside the file" 2 "disk 0 \(.*\): refcount table entry 0: refcount block at offset .*outside the file" -- $d "$in/refblock-outside.qcow2,format=qcow2"
    refused "qcow2: unknown incompatible feature" 2 "disk 0 \(.*\): header: uses the incompatible feature bit 10" -- $d "$in/feature.qcow2,format=qcow2"
    refused "qcow2: backing chain loops" 2 "disk 0 \(.*loop-b.qcow2\): backing file 'loop-a.qcow2': backing file 'loop-b.qcow2': the backing chain loops" -- $d "$in/loop-b.qcow2,format=qcow2"
    refused "raw disk with a guest-made qcow2 header" 2 "disk 0 \(.*guest-made.img\): starts with a qcow2 header.*format=qcow2" -- $d "$in/guest-made.img"
    refused "qcow2: format=vmdk" 2 "unknown disk format 'vmdk'" -- $d "$in/good.qcow2,format=vmdk"
else
    tap_skip "qcow2 hostile images" "needs qemu-img (qemu-utils)"
fi

# A read-only --image names --image and says how to boot it; root writes through a
# mode of 0444, so a read-only bind mount makes the file unwritable.
if [[ $(id -u) -eq 0 ]] && command -v unshare >/dev/null; then
    mkdir "$scratch/ro"
    cp "$in/boot.img" "$scratch/ro/boot.img"
    status=0
    timeout 20 unshare -m sh -c 'mount --bind -o ro "$1" "$1" && exec "$2" vm run --image "$1/boot.img"' \
        sh "$scratch/ro" "$BERTH" >/dev/null 2>"$scratch/err" || status=$?
    if [[ $status -eq 2 && $(wc -l <"$scratch/err") -eq 1 ]] &&
        grep -qE -- "--image .*boot.img is not writable .*make it writable" "$scratch/err"; then
        tap_ok "read-only image names --image"
    else
        tap_not_ok "read-only image names --image (status $status)"
        tap_diag <"$scratch/err"
    fi
else
    tap_skip "read-only image names --image" "needs root and unshare for a read-only mount"
fi

# 9. Snapshots that cannot be restored (vm run --restore): damaged, truncated, of another
# format version, with a missing or changed disk or a memory file of the wrong size. One
# line naming the file and the fix, before /dev/kvm.
make_snapshot() { python3 "$(dirname "$0")/../lib/make-snapshot.py" "$@"; }
snaps=$scratch/snaps
make_snapshot "$snaps/flipped" --flip-body
make_snapshot "$snaps/truncated" --truncate 40
make_snapshot "$snaps/short-header" --truncate 12
make_snapshot "$snaps/version" --version 99
make_snapshot "$snaps/garbage" --garbage
make_snapshot "$snaps/empty-body" --empty-body
make_snapshot "$snaps/no-disk" --disk "$in/no-such-disk.img" 8388608
make_snapshot "$snaps/changed-disk" --disk "$in/disk.img" 4096
make_snapshot "$snaps/short-memory" --memory-size 4096
make_snapshot "$snaps/ws-outside" --working-set outside
make_snapshot "$snaps/ws-truncated" --working-set truncated
mkdir "$snaps/empty"
refused "restore: no such directory" 2 "snapshot state file .*nowhere/state: .*No such file" -- vm run --restore "$snaps/nowhere"
refused "restore: a directory without a state file" 2 "snapshot state file .*empty/state" -- vm run --restore "$snaps/empty"
refused "restore: a flipped byte fails the checksum" 2 "flipped/state: damaged: its checksum does not match .*take the snapshot again" -- vm run --restore "$snaps/flipped"
refused "restore: a truncated state file" 2 "truncated/state: truncated .*take the snapshot again" -- vm run --restore "$snaps/truncated"
refused "restore: a state file cut in its header" 2 "short-header/state: truncated" -- vm run --restore "$snaps/short-header"
refused "restore: another format version" 2 "version/state: snapshot format version 99, and this berth reads version 1" -- vm run --restore "$snaps/version"
refused "restore: not a snapshot" 2 "garbage/state: not a berth snapshot state file" -- vm run --restore "$snaps/garbage"
refused "restore: fields missing" 2 "empty-body/state: damaged: a field is missing" -- vm run --restore "$snaps/empty-body"
refused "restore: the disk is missing" 2 "disk .*no-such-disk.img: No such file.*the disk image it was taken with" -- vm run --restore "$snaps/no-disk"
refused "restore: the disk changed size" 2 "disk .*disk.img is 8388608 bytes, and the snapshot was taken with 4096" -- vm run --restore "$snaps/changed-disk"
refused "restore: the memory file is short" 2 "snapshot memory file .*short-memory/memory is not 16777216 bytes" -- vm run --restore "$snaps/short-memory"
refused "restore: a working set outside guest RAM" 2 "snapshot working-set file .*ws-outside/working-set: damaged: run 1 .* is not a piece of the snapshot's RAM.*delete it" -- vm run --restore "$snaps/ws-outside"
refused "restore: a truncated working set" 2 "snapshot working-set file .*ws-truncated/working-set: truncated .*delete it" -- vm run --restore "$snaps/ws-truncated"
refused "restore: --cpus goes with the snapshot" 2 "cpus.*cannot go with --restore" -- vm run --restore "$snaps/flipped" --cpus 2
refused "restore: --disk goes with the snapshot" 2 "disk.*cannot go with --restore" -- vm run --restore "$snaps/flipped" --disk "$in/disk.img"
refused "restore: --memory goes with the snapshot" 2 "memory.*cannot go with --restore" -- vm run --restore "$snaps/flipped" --memory 64M
refused "restore: not with --kernel" 2 "restore.*excludes.*kernel|kernel.*excludes.*restore" -- vm run --restore "$snaps/flipped" --kernel "$k"

# Nothing of berth's is left in the input folder (an output's temporary file).
if compgen -G "$in/.*berth-*" >/dev/null; then
    tap_not_ok "no temporary output file left behind"
else
    tap_ok "no temporary output file left behind"
fi
tap_done
