# Two NICs at once, a bridge of the user's own and a pinned address, seen by a real
# guest; sourced by kvm-tests.sh after bridge-tests.sh (uses not_ok, $scratch and
# has/$kernel/$initramfs from linux-tests.sh). One boot with
#   --net user --net bridge=brtest --ip 10.99.0.7/24
# where brtest is a bridge made here on 10.99.0.1/24 (not berth0): the guest's eth0 gets
# 10.0.2.15 from libslirp and fetches a file from the host through it, its eth1 gets the
# pinned 10.99.0.7 from berth's DHCP and pings the bridge's end; the default route stays
# on eth0. Afterwards no tap or address lease is left.
if [[ -z ${linux_guest_ready:-} ]]; then
    tap_skip "two NICs, --net bridge=NAME and --ip" "no Debian kernel in /boot or no initramfs (busybox-static)"
    return 0 2>/dev/null || exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    tap_skip "two NICs, --net bridge=NAME and --ip" "needs root (a bridge and a tap)"
    return 0 2>/dev/null || exit 0
fi
rig_modules tun bridge
ip link del brtest 2>/dev/null
ip link add brtest type bridge && ip addr add 10.99.0.1/24 dev brtest && ip link set brtest up
start_blob_server www2 $((256 << 10))
links_before=$(ip -o link show | grep -c ' bt[0-9]')
leases_before=$(ls /run/berth/net 2>/dev/null | wc -l)

guest="
echo nic0-\$(ip -4 addr show eth0 | grep -o 'inet [0-9./]*')
echo nic1-\$(ip -4 addr show eth1 | grep -o 'inet [0-9./]*')
echo route-\$(ip route | grep -o 'default via [0-9.]* dev [a-z0-9]*')
ping -c 1 -W 10 10.99.0.1 >/dev/null && echo ping-brtest-ok
wget -q -O /tmp/blob http://10.0.2.2:$http_port/blob && echo sha=\$(sha256sum </tmp/blob | cut -c1-64)
exit 0"
status=0
timeout 240 "$BERTH" vm run --kernel "$kernel" --initrd "$initramfs" --cpus 1 \
    --cmdline "quiet berth_run=\"$guest\"" --net user --net bridge=brtest --ip 10.99.0.7/24 \
    >"$scratch/out" 2>"$scratch/err" </dev/null || status=$?
kill "$http_pid" 2>/dev/null
wait "$http_pid" 2>/dev/null

if [[ $status -eq 0 ]] && has "nic0-inet 10.0.2.15/24" && has "nic1-inet 10.99.0.7/24" &&
   has "route-default via 10.0.2.2 dev eth0"; then
    tap_ok "two NICs: eth0 (--net user) gets 10.0.2.15, eth1 (--net bridge=brtest --ip 10.99.0.7/24) the pinned address; the route stays on eth0"
else
    not_ok "two NICs: eth0 and eth1 each get their address (status $status)"
fi
if has "ping-brtest-ok" && has "sha=$want_sha"; then
    tap_ok "two NICs: the guest pings its own bridge's end over eth1 and fetches from the host over eth0"
else
    not_ok "two NICs: ping over eth1 and a fetch over eth0 (want sha $want_sha)"
fi
links_after=$(ip -o link show | grep -c ' bt[0-9]')
leases_after=$(ls /run/berth/net 2>/dev/null | wc -l)
if [[ $links_after -eq $links_before && $leases_after -eq $leases_before ]] &&
   ! ip -o link show master brtest | grep -q .; then
    tap_ok "--net bridge=brtest: no tap or address lease is left after the VM"
else
    not_ok "--net bridge=brtest: links $links_before -> $links_after, leases $leases_before -> $leases_after"
fi
ip link del brtest 2>/dev/null
