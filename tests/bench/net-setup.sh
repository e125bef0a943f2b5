# Sourced by the network benchmarks (net.sh, net-exits.sh) after vm-bench-setup.sh:
# checks the tools, and sets up what both need around the VMs: a work folder (removed on
# exit) with copies of the berth binaries and the kernel, the guest's initramfs with
# iperf3 in it ($i), the host's side of the networks, an iperf3 server, QEMU's tap
# ($qemu_tap) and berth's base kernel command line ($base, which QEMU's guest gets too).
command -v iperf3 >/dev/null || { echo "$(basename "$0"): needs iperf3 (apt-get install iperf3)" >&2; exit 1; }
command -v qemu-system-x86_64 >/dev/null || { echo "$(basename "$0"): needs qemu-system-x86_64" >&2; exit 1; }

work=$(mktemp -d /tmp/net-bench.XXXXXX)
qemu_tap=qbench0
cleanup() {
    ip link del "$qemu_tap" 2>/dev/null || true
    [[ -n ${server_pid:-} ]] && kill "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
cp "${BERTH_BENCH_BERTH:-$build/berth}" "$work/berth"
if [[ -n ${BERTH_BENCH_BASELINE:-} ]]; then
    cp "$BERTH_BENCH_BASELINE" "$work/berth-base"
fi
cp "$kernel" "$work/"
k="$work/$(basename "$kernel")"

# The guest's iperf3: the binary, its libraries and the loader at their own paths, in a
# second cpio archive appended to berth's initramfs (the kernel unpacks both in turn).
mkdir -p "$work/extra"
for file in "$(command -v iperf3)" $(ldd "$(command -v iperf3)" | grep -o '/[^ ]*'); do
    mkdir -p "$work/extra/$(dirname "$file")"
    cp -L "$file" "$work/extra/$file"
done
(cd "$work/extra" && find . | LC_ALL=C sort | cpio -o -H newc --owner 0:0 --quiet | gzip -1) \
    >"$work/extra.cpio.gz"
cat "$initrd" "$work/extra.cpio.gz" >"$work/initramfs-iperf3.cpio.gz"
i="$work/initramfs-iperf3.cpio.gz"

# The host side: unprivileged ICMP
# sockets for any group (libslirp pings the host with them, for berth and QEMU alike),
# the modules a host would load on demand, berth0 (berth makes it on first use; QEMU's
# tap needs it first) and QEMU's tap in it.
sysctl -qw net.ipv4.ping_group_range="0 2147483647"
modprobe -q tun 2>/dev/null || true
modprobe -q bridge 2>/dev/null || true
modprobe -q vhost_net 2>/dev/null || true
if [[ " $BERTH_BENCH_BACKENDS " == *" tap "* || " $BERTH_BENCH_BACKENDS " == *" vhost "* ]]; then
    ip link show berth0 >/dev/null 2>&1 || {
        ip link add berth0 type bridge
        ip addr add 10.88.0.1/16 dev berth0
    }
    ip link set berth0 up
    ip tuntap add dev "$qemu_tap" mode tap vnet_hdr
    ip link set "$qemu_tap" master berth0 up
fi
iperf3 -s -p 5201 >/dev/null 2>&1 &
server_pid=$!

base=$("$work/berth" vm run --help | tr -s ' \n' ' ' | sed -n 's/.*appended to "\([^"]*\)".*/\1/p')
[[ -n $base ]] || { echo "$(basename "$0"): cannot find berth's base command line in its --help" >&2; exit 1; }
export BERTH_BENCH_WORK=$work BERTH_BENCH_GUEST_KERNEL=$k BERTH_BENCH_GUEST_INITRD=$i \
    BERTH_BENCH_BASE_CMDLINE=$base BERTH_BENCH_QEMU_TAP=$qemu_tap
