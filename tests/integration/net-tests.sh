# virtio-net with user-mode networking (--net user) seen by a real guest, sourced by
# kvm-tests.sh after virtio-tests.sh (uses its not_ok and $scratch, and
# boot_linux/has/$marker from linux-tests.sh). One boot: the guest gets its address
# by DHCP with no configuration, fetches a file from an HTTP server on the host's
# 127.0.0.1 (10.0.2.2 from the guest) and checks its sha256; then the host reaches a
# TCP server in the guest (busybox nc) through --publish, data going both ways; last,
# 100 MiB each way between the guest and the host (start_bulk_peer), sha256 checked.
if [[ -z ${linux_guest_ready:-} ]]; then
    tap_skip "virtio-net guest tests" "no Debian kernel in /boot or no initramfs (busybox-static)"
    return 0 2>/dev/null || exit 0
fi
# The emulated rig's machine starts with its loopback down; the host's 127.0.0.1 is
# what the guest reaches as 10.0.2.2.
[[ ${BERTH_IN_RIG:-0} == 1 ]] && ip link set lo up 2>/dev/null

mkdir -p "$scratch/www"
head -c $((1 << 20)) /dev/urandom >"$scratch/www/blob"
want_sha=$(sha256sum <"$scratch/www/blob" | cut -c1-64)
# Port 0: the server takes a free port and says which on its first line.
python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$scratch/www" \
    >"$scratch/http.out" 2>/dev/null &
http_pid=$!
http_port=
for _ in $(seq 100); do
    http_port=$(sed -n 's/.* port \([0-9]*\) .*/\1/p' "$scratch/http.out" | head -n 1)
    [[ -n $http_port ]] && break
    sleep 0.1
done
start_bulk_peer 127.0.0.1 10.0.2.2
publish_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# The guest script travels inside double quotes on the kernel command line: none in it.
guest="
echo net-\$(ip -4 addr show eth0 | grep -o 'inet [0-9./]*')
echo route-\$(ip route | grep -o 'default via [0-9.]*')
wget -q -O /tmp/blob http://10.0.2.2:$http_port/blob && echo sha=\$(sha256sum </tmp/blob | cut -c1-64)
echo hello-from-the-guest | nc -l -p 7777 >/tmp/from-host
echo got-\$(cat /tmp/from-host)
$bulk_guest
exit 0"
status=0
timeout $((150 + bulk_deadline)) "$BERTH" vm run --kernel "$kernel" --initrd "$initramfs" --cpus 1 \
    --cmdline "quiet berth_run=\"$guest\"" --net user --publish "127.0.0.1:$publish_port:7777" \
    >"$scratch/out" 2>"$scratch/err" </dev/null &
berth_pid=$!
# The host's side of the published port: slirp accepts at once and then connects into
# the guest, so until nc listens a connection is reset. Try until the guest answers.
python3 - "$publish_port" >"$scratch/client.out" 2>&1 <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
deadline = time.monotonic() + 230
while time.monotonic() < deadline:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.settimeout(20)
            s.sendall(b"hello-from-the-host\n")
            s.shutdown(socket.SHUT_WR)
            got = b""
            while True:
                data = s.recv(4096)
                if not data:
                    break
                got += data
            if b"hello-from-the-guest" in got:
                print("client-got-" + got.decode().strip())
                sys.exit(0)
    except OSError:
        pass
    time.sleep(1)
print("client: no answer from the guest")
sys.exit(1)
PY
client_pid=$!
wait "$berth_pid" || status=$?
client_status=0
wait "$client_pid" || client_status=$?
kill "$http_pid" 2>/dev/null
wait "$http_pid" 2>/dev/null

if [[ $status -eq 0 ]] && has "net-inet 10.0.2.15/24" && has "route-default via 10.0.2.2"; then
    tap_ok "--net user: the guest's eth0 gets 10.0.2.15/24 and a default route by DHCP, unconfigured"
else
    not_ok "--net user: the guest's eth0 gets 10.0.2.15/24 and a default route by DHCP (status $status)"
fi
if has "sha=$want_sha"; then
    tap_ok "--net user: the guest fetches 1 MiB from the host's HTTP server with a matching sha256"
else
    not_ok "--net user: the guest fetches 1 MiB from the host's HTTP server with a matching sha256 (want $want_sha)"
fi
if [[ $client_status -eq 0 ]] && grep -q "client-got-hello-from-the-guest" "$scratch/client.out" &&
   has "got-hello-from-the-host"; then
    tap_ok "--publish: the host reaches a TCP server in the guest, data both ways"
else
    not_ok "--publish: the host reaches a TCP server in the guest (client $client_status: $(tr '\n' ' ' <"$scratch/client.out"))"
fi
check_bulk "--net user"
