#!/usr/bin/env bash
# Builds a bootable Debian 12 (bookworm) disk image for `berth vm run --image`: a raw
# ext4 file system (label berth-root, no partition table) holding a debootstrap of
# Debian with linux-image-amd64, systemd as init, a login prompt (getty) on the serial
# console ttyS0 and on hvc0 when the guest has a virtio console, /etc/fstab by label,
# hostname berth-debian and root's password "berth". Networking: systemd-networkd asks
# DHCP on every Ethernet NIC (systemd-resolved takes the DNS servers it learns).
# cloud-init (NoCloud only: the cidata seed `berth vm run --ssh-key/--password/
# --hostname/--user-data` attaches) and openssh-server, whose host keys each copy of
# the image makes at its first boot (none are baked into the image).
#
# No loop mount: debootstrap fills a directory and `mke2fs -d` copies it into the
# image. debootstrap needs root (it chroots and creates device nodes). The kernel's
# own postinst builds /boot/initrd.img-* with initramfs-tools (MODULES=most), which
# brings virtio_pci, virtio_blk and ext4: Debian builds all three as modules.
#
# Usage: build-debian.sh OUTPUT SIZE_BYTES [MIRROR]
#   MIRROR defaults to http://deb.debian.org/debian (the archive these machines reach).
#   BERTH_DEBIAN_SUITE overrides the suite (default bookworm).
set -euo pipefail
out=${1:?usage: build-debian.sh OUTPUT SIZE_BYTES [MIRROR]}
size=${2:?usage: build-debian.sh OUTPUT SIZE_BYTES [MIRROR]}
mirror=${3:-http://deb.debian.org/debian}
suite=${BERTH_DEBIAN_SUITE:-bookworm}
hostname=berth-debian
root_password=berth
label=berth-root

fail() { echo "build-debian: $*" >&2; exit 2; }
# progress N COUNT TEXT: step N of COUNT begins. berth shows it on a terminal; it passes
# BERTH_PROGRESS_FD (a pipe) only then, so in scripts and pipes this says nothing.
progress() { if [[ -n ${BERTH_PROGRESS_FD:-} ]]; then echo "$*" >&"$BERTH_PROGRESS_FD"; fi; }
[[ $(id -u) -eq 0 ]] || fail "needs root (debootstrap chroots and makes device nodes); run it with sudo"
command -v debootstrap >/dev/null || fail "debootstrap is not installed; apt-get install debootstrap"
command -v mke2fs >/dev/null || fail "mke2fs is not installed; apt-get install e2fsprogs"
[[ $size =~ ^[0-9]+$ ]] || fail "size '$size' must be a number of bytes"

# The tree lives next to the output (same file system, not a RAM-backed /tmp).
root=$(mktemp -d "$out.rootfs.XXXXXX")
cleanup() {
    # debootstrap mounts /proc and /sys inside the tree and may leave them behind when
    # it fails: unmount them before deleting, and never cross into another file system.
    awk -v r="$root/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r |
        while read -r mnt; do umount -l "$mnt" || true; done
    rm -rf --one-file-system "$root" "$out.tmp.$$"
}
trap cleanup EXIT

packages=linux-image-amd64,systemd,systemd-sysv,udev,dbus,kmod,initramfs-tools,zstd,e2fsprogs,procps,iproute2
# Networking, remote login and cloud-init (cloud-init's Recommends sudo: its default
# user "debian" gets sudo rights, as on Debian's cloud images). python3-cffi-backend is
# named because debootstrap does not resolve virtual packages: python3-cryptography
# (under cloud-init) depends on python3-cffi-backend-api-min, which only it provides.
packages+=,systemd-resolved,openssh-server,cloud-init,sudo,python3-cffi-backend
echo "build-debian: debootstrap $suite from $mirror into $root (takes minutes)"
progress 1 3 "debootstrap: downloading and installing Debian $suite (minutes)"
debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror"

progress 2 3 "configuring the system: host name, fstab, root password, consoles"
echo "$hostname" >"$root/etc/hostname"
cat >"$root/etc/hosts" <<HOSTS
127.0.0.1 localhost
127.0.1.1 $hostname
::1 localhost ip6-localhost ip6-loopback
HOSTS
cat >"$root/etc/fstab" <<FSTAB
# berth vm run --image attaches this image as the first virtio-blk disk.
LABEL=$label / ext4 errors=remount-ro 0 1
FSTAB
cat >"$root/etc/apt/sources.list" <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
deb ${mirror%/debian}/debian-security $suite-security main
SOURCES
# The host's resolver configuration means nothing inside the guest: the guest's
# systemd-resolved serves the DNS servers DHCP gave it.
rm -f "$root/etc/resolv.conf"
ln -s ../run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"
echo "root:$root_password" | chroot "$root" chpasswd

# A getty on the serial console. systemd's getty generator would also start one for
# console=ttyS0; enabling it makes the login prompt independent of the command line.
wants="$root/etc/systemd/system/getty.target.wants"
mkdir -p "$wants"
ln -sf /lib/systemd/system/serial-getty@.service "$wants/serial-getty@ttyS0.service"
# hvc0 exists only when the guest has a virtio console, whose driver is a module that
# udev loads after the generators ran: start its getty when the device appears, so a
# guest without one does not wait 90 s for dev-hvc0.device.
cat >"$root/etc/udev/rules.d/90-berth-hvc0.rules" <<'RULES'
ACTION=="add", SUBSYSTEM=="tty", KERNEL=="hvc0", TAG+="systemd", ENV{SYSTEMD_WANTS}+="serial-getty@hvc0.service"
RULES

# DHCP on every Ethernet NIC (berth's --net user, a tap, ...). Nothing waits for the
# network to be up (systemd-networkd-wait-online would hold cloud-init for two
# minutes in a guest without a NIC); ssh and DHCP come up side by side.
mkdir -p "$root/etc/systemd/network"
cat >"$root/etc/systemd/network/80-berth-dhcp.network" <<'NETWORK'
[Match]
Type=ether

[Network]
DHCP=yes
NETWORK
chroot "$root" systemctl enable systemd-networkd.service systemd-resolved.service
chroot "$root" systemctl disable systemd-networkd-wait-online.service

# cloud-init reads only the NoCloud seed (a volume labelled cidata) and leaves the
# network to systemd-networkd above. Without a seed ds-identify finds no data source
# and cloud-init stays off for that boot. Its locale module would set en_US.UTF-8,
# which the image (no locales package) does not have: update-locale fails and
# `cloud-init status` says error; C.UTF-8 is built into Debian's libc.
mkdir -p "$root/etc/cloud/cloud.cfg.d"
cat >"$root/etc/cloud/cloud.cfg.d/90-berth.cfg" <<'CLOUD'
datasource_list: [ NoCloud, None ]
network: {config: disabled}
locale: C.UTF-8
CLOUD

# No ssh host keys in the image (every copy would share them): cloud-init makes new
# ones when it runs, and ssh makes any still missing before it starts.
rm -f "$root"/etc/ssh/ssh_host_*
mkdir -p "$root/etc/systemd/system/ssh.service.d"
cat >"$root/etc/systemd/system/ssh.service.d/berth-host-keys.conf" <<'UNIT'
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
UNIT

# Each boot of a copy of the image makes its own machine id.
: >"$root/etc/machine-id"
rm -f "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*_Packages

ls "$root"/boot/vmlinuz-* "$root"/boot/initrd.img-* >/dev/null ||
    fail "the kernel or its initrd is missing from $root/boot after debootstrap"

used=$(du -sb --one-file-system "$root" | cut -f1)
# ext4 metadata (inode tables, journal) and some free space on top of the files.
need=$((used + used / 5 + (128 << 20)))
if ((size < need)); then
    fail "size $size bytes is too small: the root file system holds $((used >> 20)) MiB; use at least $(((need >> 20) + 1))M"
fi

progress 3 3 "writing $((size >> 20)) MiB of ext4 image (mke2fs)"
tmp=$out.tmp.$$
rm -f "$tmp"
truncate -s "$size" "$tmp"
mke2fs -q -t ext4 -L "$label" -d "$root" -F "$tmp"
mv "$tmp" "$out"
echo "build-debian: wrote $out ($((size >> 20)) MiB, ext4 label $label, root password '$root_password')"
