#!/usr/bin/env bash
# Builds berth's default Linux guest: a gzip'd cpio initramfs holding Debian's static
# busybox and an /init that
#   - writes to berth's phase-marker port 0x502 as soon as it starts;
#   - mounts /proc, /sys and /dev and prints the marker "berth-guest: userspace ready";
#   - when the VM has NICs (berth vm run --net ...), brings each ethN up by DHCP (udhcpc)
#     before any command runs;
#   - when the kernel command line has berth_run="COMMAND" (the kernel hands such
#     parameters to init as environment variables), runs COMMAND with sh, prints
#     "berth-guest: exit STATUS", writes STATUS to the debug-exit port 0x501 (berth
#     then exits with it) and powers off;
#   - when the kernel command line has root=DEVICE (berth vm run --image, or --disk
#     with --cmdline root=/dev/vda), mounts DEVICE (ro, or rw with `rw`) and
#     switch_roots to its /sbin/init, which then owns berth_run and the console;
#   - otherwise starts busybox init, which keeps a shell on the console; `poweroff`
#     in it ends the VM with status 0.
# Usage: build-initramfs.sh OUTPUT [BUSYBOX]
set -euo pipefail
out=${1:?usage: build-initramfs.sh OUTPUT [BUSYBOX]}
busybox=${2:-/bin/busybox}
# The guest has no libraries: the busybox must be the static one (busybox-static).
if [[ ! -x $busybox ]] || ldd "$busybox" >/dev/null 2>&1; then
    echo "build-initramfs: $busybox is missing or not statically linked; install busybox-static" >&2
    exit 1
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc/init.d,proc,sys,dev,tmp,root}
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"

# The Debian kernel's virtio drivers are modules: copy virtio_pci, virtio_blk,
# virtio-rng and virtio_console with their dependencies (from modules.dep, in load
# order, decompressed) to /lib/modules/berth; /init loads them (see load-order).
# virtio_net and what it needs beyond those go in load-order-net, which /init loads
# only when the VM has a virtio-net function, so that a VM without a NIC boots as
# it did before (the same work, the same exits).
# ext4 is a module too, and it needs the crc32c crypto driver, which it asks for by
# name at mount time (no modprobe here): crc32c_generic goes in explicitly.
# BERTH_MODULES_DIR picks the tree (default: the newest in /lib/modules).
modules_dir=${BERTH_MODULES_DIR:-$(ls -d /lib/modules/*/ 2>/dev/null | sort -V | tail -n 1)}
mkdir -p "$root/lib/modules/berth"
if [[ -n $modules_dir && -f $modules_dir/modules.dep ]]; then
    declare -A loaded=()
    add_module() {  # add_module RELATIVE_PATH: its dependencies first
        local rel=$1 dep base
        [[ -n ${loaded[$rel]:-} ]] && return 0
        loaded[$rel]=1
        for dep in $(awk -v m="$rel:" '$1 == m { $1 = ""; print }' "$modules_dir/modules.dep"); do
            add_module "$dep"
        done
        base=$(basename "$rel")
        case $base in
            *.ko.xz) xz -dc "$modules_dir/$rel" >"$root/lib/modules/berth/${base%.xz}"; base=${base%.xz} ;;
            *.ko.zst) zstd -qdc "$modules_dir/$rel" >"$root/lib/modules/berth/${base%.zst}"; base=${base%.zst} ;;
            *) cp "$modules_dir/$rel" "$root/lib/modules/berth/$base" ;;
        esac
        echo "$base" >>"$root/lib/modules/berth/$order"
    }
    add_named() {  # add_named NAME...: by module name
        local name rel
        for name in "$@"; do
            rel=$(awk -F: -v n="$name" '{ m = $1; sub(".*/", "", m); sub("\\.ko.*", "", m); if (m == n) { print $1; exit } }' "$modules_dir/modules.dep")
            [[ -n $rel ]] && add_module "$rel"
        done
    }
    order=load-order
    add_named virtio_pci virtio_blk virtio-rng virtio_console crc32c_generic ext4
    order=load-order-net
    add_named virtio_net
    # The ACPI power button (a VM with --api-socket has one; `vm ctl SOCKET shutdown`
    # presses it) reports through an input device.
    order=load-order-power
    add_named button evdev
fi

cat >"$root/init" <<'INIT'
#!/bin/sh
# First of all, tell berth that user space runs: a write to port 0x502 (1282), berth's
# phase marker (`berth bench startup` times the kernel's boot up to here).
/bin/busybox mount -t devtmpfs devtmpfs /dev
printf '\001' | /bin/busybox dd of=/dev/port bs=1 seek=1282 count=1 2>/dev/null
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
# virtio drivers (built in or absent: insmod fails quietly and we go on). Loaded
# before the console is opened: with console=hvc0 the console IS virtio_console.
if [ -f /lib/modules/berth/load-order ]; then
    while read -r module; do
        insmod "/lib/modules/berth/$module" 2>/dev/null
    done </lib/modules/berth/load-order
fi
# virtio-net's PCI device ID is 0x1041 (0x1040 + its virtio device type, 1).
if [ -f /lib/modules/berth/load-order-net ] &&
    grep -qx 0x1041 /sys/bus/pci/devices/*/device 2>/dev/null; then
    while read -r module; do
        insmod "/lib/modules/berth/$module" 2>/dev/null
    done </lib/modules/berth/load-order-net
fi
# The archive has no /dev/console node, so the kernel started us without stdio:
# attach it now that devtmpfs provides the console.
exec </dev/console >/dev/console 2>&1
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
# root=DEVICE: the guest's root is a disk. Quoted values (berth_run="...") are
# dropped before splitting, so words inside them are not taken for parameters.
root_dev=
root_mode=ro
root_type=
for arg in $(sed 's/"[^"]*"//g' /proc/cmdline); do
    case $arg in
        root=*) root_dev=${arg#root=} ;;
        rootfstype=*) root_type=${arg#rootfstype=} ;;
        rw) root_mode=rw ;;
        ro) root_mode=ro ;;
    esac
done
if [ -n "$root_dev" ]; then
    device=$root_dev
    tries=0
    # The disk's driver probed it during insmod; give udev-less devtmpfs a moment.
    while :; do
        case $root_dev in
            LABEL=* | UUID=*) device=$(findfs "$root_dev" 2>/dev/null) ;;
        esac
        [ -n "$device" ] && [ -b "$device" ] && break
        tries=$((tries + 1))
        [ $tries -ge 50 ] && break
        sleep 0.1
    done
    mkdir -p /newroot
    # ext4 first (busybox has no blkid): probing every type would have the kernel log
    # a failed ext3 and ext2 mount before the ext4 one succeeds.
    if [ -n "$device" ] && [ -b "$device" ] &&
        { mount -t "${root_type:-ext4}" -o "$root_mode" "$device" /newroot ||
            { [ -z "$root_type" ] && mount -o "$root_mode" "$device" /newroot; }; }; then
        for fs in dev proc sys; do
            mkdir -p "/newroot/$fs" 2>/dev/null
            mount --move "/$fs" "/newroot/$fs" 2>/dev/null || umount "/$fs"
        done
        echo "berth-guest: root $root_dev ($device, $root_mode) mounted"
        exec switch_root /newroot /sbin/init
    fi
    echo "berth-guest: cannot mount root $root_dev; staying in the initramfs"
fi
# NICs (virtio_net probed them during insmod): lo and each ethN up, its address, and
# (the first NIC's) route and DNS server by DHCP (berth answers at once, in user mode
# and on a bridge; -n: give up rather than hang when nothing answers).
if [ -e /sys/class/net/eth0 ]; then
    ip link set lo up
    for nic in /sys/class/net/eth*; do
        nic=${nic##*/}
        ip link set "$nic" up
        udhcpc -i "$nic" -s /etc/udhcpc.script -q -n -t 5 -T 2 >/dev/null 2>&1 ||
            echo "berth-guest: $nic: no DHCP answer"
    done
fi
# The ACPI power button (present when berth serves a control API; `berth vm ctl
# SOCKET shutdown` presses it): its driver reports KEY_POWER on an input device, and a
# watcher waits for the first event there. With berth_run it stops every process but
# this script, which then ends the VM as usual with the command's status (143 for
# SIGTERM); under busybox init, `poweroff` shuts down in order (inittab's shutdown
# line, then SIGTERM and SIGKILL to all) and berth exits 0.
if [ -f /lib/modules/berth/load-order-power ] && [ -e /sys/bus/acpi/devices/PNP0C0C:00 ]; then
    while read -r module; do
        insmod "/lib/modules/berth/$module" 2>/dev/null
    done </lib/modules/berth/load-order-power
    for input in /sys/class/input/input*; do
        [ "$(cat "$input/name" 2>/dev/null)" = "Power Button" ] || continue
        for event in "$input"/event*; do
            (
                # One struct input_event is 24 bytes on x86-64.
                dd if="/dev/input/${event##*/}" of=/dev/null bs=24 count=1 2>/dev/null || exit
                echo "berth-guest: power button pressed, shutting down"
                if [ -n "${berth_run:-}" ]; then
                    kill -TERM -1
                    sleep 5
                    kill -KILL -1
                else
                    poweroff
                fi
            ) &
        done
    done
fi
echo "berth-guest: userspace ready"
if [ -n "${berth_run:-}" ]; then
    sh -c "$berth_run"
    status=$?
    echo "berth-guest: exit $status"
    # An out to port 0x501 (1281): berth exits with this byte as its status.
    printf "\\$(printf %o "$status")" | dd of=/dev/port bs=1 seek=1281 count=1 2>/dev/null
    poweroff -f
fi
exec /sbin/init
INIT
chmod 755 "$root/init"

cat >"$root/etc/inittab" <<'TAB'
::respawn:/bin/cttyhack /bin/sh -l
::shutdown:/bin/umount -a -r
TAB
# What udhcpc runs with the lease it got ($1: bound, renew, deconfig, ...; the lease
# in $ip, $mask, $router, $dns): busybox has no default script.
cat >"$root/etc/udhcpc.script" <<'DHCP'
#!/bin/sh
case $1 in
    deconfig)
        ip addr flush dev "$interface"
        ip link set "$interface" up
        ;;
    bound | renew)
        ip addr flush dev "$interface"
        ip addr add "$ip/${mask:-24}" dev "$interface"
        # With several NICs the first to get a lease keeps the default route and DNS.
        # (busybox ip has no "route show default" filter: grep for it.)
        if ! ip route | grep -q '^default ' ||
            ip route | grep -q "^default .* dev $interface"; then
            for gateway in $router; do
                ip route replace default via "$gateway" dev "$interface"
                break
            done
            : >/etc/resolv.conf
            for server in $dns; do
                echo "nameserver $server" >>/etc/resolv.conf
            done
        fi
        ;;
esac
exit 0
DHCP
chmod 755 "$root/etc/udhcpc.script"
cat >"$root/etc/profile" <<'PROFILE'
export PS1='berth# '
PROFILE
# A file the tests read back through the guest.
echo "berth default guest" >"$root/etc/berth-release"

tmp=$out.tmp.$$
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --owner 0:0 --quiet) \
    | gzip -9n >"$tmp"
mv "$tmp" "$out"
