# Snapshot and restore of a VM with NICs (docs/snapshots.md), sourced by kvm-tests.sh
# after snapshot-tests.sh (uses not_ok, $scratch, $kernel and $initramfs).
#
# One boot of a guest with two NICs: eth0 user-mode (--net user), eth1 on a bridge the
# test makes (--net bridge=NAME, 10.77.0.0/24; its own, so that its neighbour table and
# its removal are the test's to change). The guest waits for a line on its console; it
# is snapshotted and stopped. A restore gets a new slirp and a new tap with the same
# address: the guest announces itself (GUEST_ANNOUNCE), which the host's neighbour
# table shows with the guest's MAC before the guest sends anything else; given its
# line, the guest fetches a file from the host's HTTP server through the new user-mode
# network (matching sha256) and pings the bridge's host end. A second restore while the
# first runs, and one after the bridge is gone, are refused: one line, status 2, no tap
# or address lease left behind.
if [[ -z ${linux_guest_ready:-} ]]; then
    tap_skip "NIC snapshot tests" "no Debian kernel in /boot or no initramfs (busybox-static)"
    return 0 2>/dev/null || exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    tap_skip "NIC snapshot tests" "needs root (a bridge and taps)"
    return 0 2>/dev/null || exit 0
fi
rig_modules tun bridge
nsnap_bridge=bsnap$$
nsnap_dir=$scratch/nic-snapshot
ip link add "$nsnap_bridge" type bridge && ip addr add 10.77.0.1/24 dev "$nsnap_bridge" &&
    ip link set "$nsnap_bridge" up
# A gratuitous ARP for an address the table lacks makes an entry only with arp_accept.
sysctl -qw "net.ipv4.conf.$nsnap_bridge.arp_accept=1"
start_blob_server nsnap-www $((256 << 10))
nsnap_links() { ip -o link show | grep -c ' bt[0-9]'; }
nsnap_leases() { ls /run/berth/net 2>/dev/null | wc -l; }
links_before=$(nsnap_links)
leases_before=$(nsnap_leases)

# The script travels inside double quotes on the kernel command line: none in it.
nsnap_guest="echo eth1-\$(ip -4 addr show eth1 | grep -o 'inet [0-9./]*')
echo waiting
read line </dev/console
wget -q -O /tmp/blob http://10.0.2.2:$http_port/blob && echo sha=\$(sha256sum </tmp/blob | cut -c1-64)
ping -c 2 -W 10 10.77.0.1 >/tmp/ping 2>&1 && echo ping-ok || { cat /tmp/ping; ip neigh; grep eth1: /proc/net/dev; }
exit 0"
timeout 300 "$BERTH" vm run --kernel "$kernel" --initrd "$initramfs" --cpus 1 --memory 128M \
    --net user --net "bridge=$nsnap_bridge" --api-socket "$scratch/nsnap0.sock" \
    --cmdline "quiet berth_run=\"$nsnap_guest\"" \
    >"$scratch/nsnap0.out" 2>"$scratch/nsnap0.err" </dev/null &
nsnap_pid=$!
nsnap_status=0
if wait_for "$scratch/nsnap0.out" '^waiting' 240 "$nsnap_pid"; then
    # Let the guest reach its read.
    sleep 2
    timeout 200 "$BERTH" vm ctl "$scratch/nsnap0.sock" snapshot "$nsnap_dir" \
        >"$scratch/nsnap-ctl.out" 2>&1 || nsnap_status=$?
    timeout 60 "$BERTH" vm ctl "$scratch/nsnap0.sock" stop >/dev/null 2>&1
else
    nsnap_status=boot
fi
wait "$nsnap_pid" 2>/dev/null
guest_ip=$(sed -n 's/^eth1-inet \(10\.77\.0\.[0-9]*\)\/24.*/\1/p' "$scratch/nsnap0.out" | tr -d '\r')
# The state file's device list (MessagePack, decoded by tests/lib/snapshot-devices.py).
nsnap_devices=$(python3 "$(dirname "${BASH_SOURCE[0]}")/../lib/snapshot-devices.py" "$nsnap_dir" 2>&1 |
    grep '^nic ' | tr '\n' '|')
if [[ $nsnap_status == 0 && -n $guest_ip &&
      $nsnap_devices == "nic user|nic bridge=$nsnap_bridge,ip=$guest_ip/24|" ]]; then
    tap_ok "a VM with --net user and --net bridge=NAME is snapshotted; the snapshot keeps the guest's address $guest_ip"
else
    not_ok "a VM with NICs is snapshotted (status $nsnap_status, address '$guest_ip', NICs in the state file '$nsnap_devices'): $(cat "$scratch/nsnap-ctl.out") $(tail -n 3 "$scratch/nsnap0.err")"
    tap_diag "stdout: " <"$scratch/nsnap0.out"
fi

# The restore: the host forgets the guest's address first, so that only the guest's
# announcement can bring it back before the test gives it its line.
ip neigh flush dev "$nsnap_bridge" 2>/dev/null
mkfifo "$scratch/nsnap1.in"
timeout 200 "$BERTH" vm run --restore "$nsnap_dir" <"$scratch/nsnap1.in" \
    >"$scratch/nsnap1.out" 2>"$scratch/nsnap1.err" &
nsnap1_pid=$!
exec 7>"$scratch/nsnap1.in"
want_mac=$(printf '52:54:%02x:%02x:%02x:%02x' $(echo "$guest_ip" | tr . ' '))
announced=
for _ in $(seq 120); do
    if ip neigh show dev "$nsnap_bridge" | grep -q "^$guest_ip lladdr $want_mac"; then
        announced=1
        break
    fi
    kill -0 "$nsnap1_pid" 2>/dev/null || break
    sleep 0.5
done
if [[ -n $announced ]]; then
    tap_ok "a restored guest announces its address on the new tap: the host's neighbour table has $guest_ip at $want_mac"
else
    not_ok "a restored guest announces its address (neighbours: $(ip neigh show dev "$nsnap_bridge" | tr '\n' '|'); $(tail -n 3 "$scratch/nsnap1.err"))"
fi

# A second restore beside the first would put the same MAC and address on the bridge.
nsnap2_status=0
timeout 60 "$BERTH" vm run --restore "$nsnap_dir" </dev/null >"$scratch/nsnap2.out" \
    2>"$scratch/nsnap2.err" || nsnap2_status=$?
if [[ $nsnap2_status -eq 2 && $(wc -l <"$scratch/nsnap2.err") -eq 1 ]] &&
   grep -q "$guest_ip.* in use" "$scratch/nsnap2.err"; then
    tap_ok "a second restore of a bridge-mode snapshot while one runs: one line naming the address in use, status 2"
else
    not_ok "a second restore while one runs (status $nsnap2_status): $(cat "$scratch/nsnap2.err")"
fi

echo go >&7
# What the host hands the restored guest's tap (its counters and the ports' states), for
# the failure message: the tap is gone when the restored VM ends.
( while kill -0 "$nsnap1_pid" 2>/dev/null; do
      ip -s -o link show master "$nsnap_bridge" 2>/dev/null | tr -s ' ' | tr '\n' '|' >"$scratch/nsnap1.taps.new" &&
          mv "$scratch/nsnap1.taps.new" "$scratch/nsnap1.taps"
      sleep 0.5
  done ) &
nsnap1_status=0
wait "$nsnap1_pid" || nsnap1_status=$?
exec 7>&-
if [[ $nsnap1_status -eq 0 ]] && grep -aq "^sha=$want_sha" "$scratch/nsnap1.out"; then
    tap_ok "a restored guest fetches a file from the host's HTTP server through a new user-mode network (sha256 matches)"
else
    not_ok "a restored guest fetches a file through --net user (status $nsnap1_status): $(tail -n 5 "$scratch/nsnap1.out" "$scratch/nsnap1.err" | tr '\r\n' '  ')"
fi
if grep -aq "^ping-ok" "$scratch/nsnap1.out" && ! grep -aq "^eth1-" "$scratch/nsnap1.out"; then
    tap_ok "a restored guest pings its bridge's host end through a new tap, without booting"
else
    not_ok "a restored guest pings its bridge's host end: $(tr '\r\n' '  ' <"$scratch/nsnap1.out") (host: $(ip neigh show dev "$nsnap_bridge" | tr '\n' '|') $(bridge fdb show br "$nsnap_bridge" 2>/dev/null | grep -v permanent | tr '\n' '|'); ports while it ran: $(cat "$scratch/nsnap1.taps" 2>/dev/null))"
fi

# The host side cannot be made: the bridge is gone.
ip link del "$nsnap_bridge" 2>/dev/null
nsnap3_status=0
timeout 60 "$BERTH" vm run --restore "$nsnap_dir" </dev/null >"$scratch/nsnap3.out" \
    2>"$scratch/nsnap3.err" || nsnap3_status=$?
if [[ $nsnap3_status -eq 2 && $(wc -l <"$scratch/nsnap3.err") -eq 1 ]] &&
   grep -q "no network interface '$nsnap_bridge'" "$scratch/nsnap3.err" &&
   [[ $(nsnap_links) -eq $links_before && $(nsnap_leases) -eq $leases_before ]]; then
    tap_ok "restoring when the snapshot's bridge is gone: one line naming it, status 2, no tap or lease left"
else
    not_ok "restoring without the bridge (status $nsnap3_status; taps $links_before -> $(nsnap_links), leases $leases_before -> $(nsnap_leases)): $(cat "$scratch/nsnap3.err")"
fi
kill "$http_pid" 2>/dev/null
wait "$http_pid" 2>/dev/null
