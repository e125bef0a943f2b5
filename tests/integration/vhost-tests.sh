# --net bridge,vhost=on seen by a real guest: the kernel's vhost-net moves the frames;
# sourced by kvm-tests.sh after net-options-tests.sh (uses not_ok, $scratch and
# has/$kernel/$initramfs from kvm-prelude.sh). One boot on berth0 beside a container:
# the guest gets its address from berth's DHCP (answered from a packet socket on the
# tap, since no frame passes through berth), pings the host's end of the bridge and the
# container, fetches 4 MiB from the container's server and sends 4 MiB to a listener on
# the host, both with matching sha256. While it runs, berth holds /dev/vhost-net and its
# tap has no reader thread in berth; afterwards no tap, lease or vhost worker is left.
if [[ -z ${linux_guest_ready:-} ]]; then
    tap_skip "--net bridge,vhost=on guest tests" "no Debian kernel in /boot or no initramfs (busybox-static)"
    return 0 2>/dev/null || exit 0
fi
vh_root_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [[ $(id -u) -ne 0 ]] || ! "$vh_root_dir/images/busybox-rootfs.sh" "$scratch/vh-rootfs" >/dev/null 2>&1; then
    tap_skip "--net bridge,vhost=on guest tests" "needs root and busybox-static (a container shares the bridge)"
    return 0 2>/dev/null || exit 0
fi
rig_modules tun bridge veth vhost_net
if [[ ! -c /dev/vhost-net ]]; then
    tap_skip "--net bridge,vhost=on guest tests" "no /dev/vhost-net (modprobe vhost_net)"
    return 0 2>/dev/null || exit 0
fi

# The container's rootfs (busybox-rootfs.sh above) serves the file with busybox httpd.
mkdir -p "$scratch/vh-rootfs/www"
head -c $((4 << 20)) /dev/urandom >"$scratch/vh-rootfs/www/blob"
vh_down_sha=$(sha256sum <"$scratch/vh-rootfs/www/blob" | cut -c1-64)
vh_links_before=$(ip -o link show | grep -c ' b[tv][0-9]')
vh_leases_before=$(ls /run/berth/net 2>/dev/null | wc -l)

timeout 300 "$BERTH" ct run --rootfs "$scratch/vh-rootfs" --net bridge --ip 10.88.77.8/16 \
    -- /bin/busybox httpd -f -p 8000 -h /www >"$scratch/vh-ct.out" 2>&1 &
vh_ct_pid=$!
# The host's listener on berth0 keeps what the guest sends (berth0 exists once the
# container is up).
for _ in $(seq 100); do ip -4 addr show berth0 2>/dev/null | grep -q 10.88.0.1 && break; sleep 0.1; done
python3 -c '
import hashlib, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.88.0.1", 9009))
s.listen()
s.settimeout(280)
c, _ = s.accept()
h = hashlib.sha256()
n = 0
while True:
    b = c.recv(1 << 16)
    if not b:
        break
    h.update(b)
    n += len(b)
open(sys.argv[1], "w").write(f"{n} {h.hexdigest()}\n")' "$scratch/vh-up" &
vh_listen_pid=$!

guest="
echo net-\$(ip -4 addr show eth0 | grep -o 'inet [0-9./]*')
ping -c 1 -W 10 10.88.0.1 >/dev/null && echo ping-host-ok
ping -c 1 -W 10 10.88.77.8 >/dev/null && echo ping-container-ok
wget -q -O /tmp/blob http://10.88.77.8:8000/blob
echo down-sha=\$(sha256sum </tmp/blob | cut -c1-64)
head -c 4194304 /dev/urandom >/tmp/up
echo up-sha=\$(sha256sum </tmp/up | cut -c1-64)
nc 10.88.0.1 9009 </tmp/up
exit 0"
status=0
timeout 240 "$BERTH" vm run --kernel "$kernel" --initrd "$initramfs" --cpus 1 \
    --cmdline "quiet berth_run=\"$guest\"" --net bridge,vhost=on >"$scratch/out" 2>"$scratch/err" \
    </dev/null &
vh_vm_pid=$!
# While the guest runs: berth holds /dev/vhost-net and answers DHCP on its net-dhcp thread
# (the kernel moves every other frame).
vh_seen_vhost= vh_seen_dhcp=
for _ in $(seq 600); do
    kill -0 "$vh_vm_pid" 2>/dev/null || break
    # $! is timeout's pid; berth is its child.
    vh_berth_pid=$(pgrep -P "$vh_vm_pid" | head -n 1)
    [[ -n $vh_berth_pid ]] || { sleep 0.1; continue; }
    ls -l "/proc/$vh_berth_pid/fd" 2>/dev/null | grep -q '/dev/vhost-net' && vh_seen_vhost=1
    grep -qx net-dhcp "/proc/$vh_berth_pid/task/"*/comm 2>/dev/null && vh_seen_dhcp=1
    [[ -n $vh_seen_vhost && -n $vh_seen_dhcp ]] && break
    sleep 0.1
done
wait "$vh_vm_pid" || status=$?
kill "$vh_ct_pid" "$vh_listen_pid" 2>/dev/null
wait "$vh_ct_pid" "$vh_listen_pid" 2>/dev/null

if [[ $status -eq 0 && -n $vh_seen_vhost && -n $vh_seen_dhcp ]] &&
   grep -q "net-inet 10\.88\.[0-9]*\.[0-9]*/16" "$scratch/out"; then
    tap_ok "--net bridge,vhost=on: berth holds /dev/vhost-net, and its DHCP still gives the guest an address"
else
    not_ok "--net bridge,vhost=on: vhost-net in use and the guest's address (status $status, vhost fd '${vh_seen_vhost}', net-dhcp '${vh_seen_dhcp}')"
fi
if has "ping-host-ok" && has "ping-container-ok"; then
    tap_ok "--net bridge,vhost=on: the guest pings the host's end of berth0 and a container on it"
else
    not_ok "--net bridge,vhost=on: the guest pings the host and the container ($(grep -c ping- "$scratch/out") answers; container: $(head -c 300 "$scratch/vh-ct.out" | tr '\n' ' '))"
fi
vh_up_sha=$(sed -n 's/^up-sha=//p' "$scratch/out" | tr -d '\r')
if has "down-sha=$vh_down_sha" && [[ -n $vh_up_sha && "$(cat "$scratch/vh-up" 2>/dev/null)" == "4194304 $vh_up_sha" ]]; then
    tap_ok "--net bridge,vhost=on: 4 MiB from a container and 4 MiB to the host, each with a matching sha256"
else
    not_ok "--net bridge,vhost=on: 4 MiB each way (want down $vh_down_sha, up $vh_up_sha; host got '$(cat "$scratch/vh-up" 2>/dev/null)')"
fi
vh_links_after=$(ip -o link show | grep -c ' b[tv][0-9]')
vh_leases_after=$(ls /run/berth/net 2>/dev/null | wc -l)
if [[ $vh_links_after -eq $vh_links_before && $vh_leases_after -eq $vh_leases_before ]] &&
   ! pgrep -x "vhost-${vh_berth_pid:-0}" >/dev/null; then
    tap_ok "--net bridge,vhost=on: no tap, lease or vhost worker is left after the VM"
else
    not_ok "--net bridge,vhost=on: links $vh_links_before -> $vh_links_after, leases $vh_leases_before -> $vh_leases_after, vhost worker $(pgrep -x "vhost-${vh_berth_pid:-0}")"
fi
