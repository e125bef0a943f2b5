# What every KVM test area uses, sourced by kvm-tests.sh (and tests/slow/vm-hardening.sh):
# a scratch directory, not_ok and run_berth; for Linux guests Debian's kernel with the
# busybox initramfs (images/build-initramfs.sh), boot_linux and has. Each boot is
# bounded by a timeout; in the emulated rig one boot takes 15-50 s.
: "${BERTH:?}" "${BERTH_FIRMWARE_DIR:?}"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

not_ok() {  # the failure, then the last berth run's stdout and stderr
    tap_not_ok "$1"
    [[ -f $scratch/out ]] && tap_diag "stdout: " <"$scratch/out"
    [[ -f $scratch/err ]] && tap_diag "stderr: " <"$scratch/err"
}
# run_berth ARGS...: runs berth with a timeout, output in $scratch/out and err, status in $status.
run_berth() {
    status=0
    timeout 120 "$BERTH" "$@" >"$scratch/out" 2>"$scratch/err" </dev/null || status=$?
}

kernel=${BERTH_LINUX_KERNEL:-$(ls -v /boot/vmlinuz-*-amd64 2>/dev/null | tail -n 1)}
initramfs=${BERTH_INITRAMFS:-}
marker="berth-guest: userspace ready"

# Set when a Linux guest can boot; the areas that need one skip themselves otherwise.
linux_guest_ready=
if [[ -n $kernel && -r $kernel && -n $initramfs && -r $initramfs ]]; then
    linux_guest_ready=1
fi

# boot_linux CPUS RUN [ARGS...]: runs COMMAND RUN in the guest; output in $scratch/out.
boot_linux() {
    local cpus=$1 run=$2
    shift 2
    status=0
    timeout 150 "$BERTH" vm run --kernel "$kernel" --initrd "$initramfs" --cpus "$cpus" \
        --cmdline "quiet berth_test=cmdline-ok berth_run=\"$run\"" "$@" \
        >"$scratch/out" 2>"$scratch/err" </dev/null || status=$?
}
has() { grep -qF -- "$1" "$scratch/out"; }

# area NAME: sources NAME-tests.sh (beside this file) and prints the seconds it took, so
# that CI's log shows where the kvm suite's rig time goes (one meson timeout covers it).
# Loads kernel modules the emulated rig's L1 does not load on demand (a host does, on
# opening /dev/net/tun or making a bridge or veth); nothing outside the rig.
rig_modules() {
    [[ ${BERTH_IN_RIG:-0} == 1 ]] || return 0
    local module
    for module in "$@"; do
        modprobe -q "$module" 2>/dev/null
    done
    return 0
}

area() {
    local started=$SECONDS
    # shellcheck disable=SC1090
    source "$(dirname "${BASH_SOURCE[0]}")/$1-tests.sh"
    echo "# area $1: $((SECONDS - started)) s"
}

# wait_for FILE PATTERN SECONDS PID: until FILE has a line matching PATTERN (an ERE),
# SECONDS pass, or PID ends; its status says whether the line came.
wait_for() {
    local deadline=$((SECONDS + $3))
    while ((SECONDS < deadline)) && ! grep -aqE "$2" "$1" && kill -0 "$4" 2>/dev/null; do
        sleep 0.5
    done
    grep -aqE "$2" "$1"
}

# A file for a guest to fetch: start_blob_server NAME BYTES writes that many random bytes
# to $scratch/NAME/blob and serves the folder over HTTP on 127.0.0.1 (the guest reaches
# it at 10.0.2.2 with --net user); sets $want_sha, $http_port and $http_pid (kill it).
start_blob_server() {
    local name=$1 bytes=$2 _
    mkdir -p "$scratch/$name"
    head -c "$bytes" /dev/urandom >"$scratch/$name/blob"
    want_sha=$(sha256sum <"$scratch/$name/blob" | cut -c1-64)
    # Port 0: the server takes a free port and says which on its first line.
    python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$scratch/$name" \
        >"$scratch/$name.out" 2>/dev/null &
    http_pid=$!
    http_port=
    for _ in $(seq 100); do
        http_port=$(sed -n 's/.* port \([0-9]*\) .*/\1/p' "$scratch/$name.out" | head -n 1)
        [[ -n $http_port ]] && break
        sleep 0.1
    done
}

# Bulk transfer through a guest's NIC, BERTH_BULK_MIB MiB each way (bulk_peer.py; 8, what
# the emulated rig moves in about a minute; tests/slow/vm-hardening.sh moves 100):
# start_bulk_peer BIND HOST starts the host's end on BIND in the background and sets
# $bulk_guest, the part of a berth_run script that fetches the bytes from HOST (the
# host as the guest reaches it), prints their sha256 as "bulk-sha=..." and sends them
# straight back (both ways at once, pipelined, nothing stored in the guest);
# check_bulk WHAT then waits for the host's end and reports both directions.
bulk_mib=${BERTH_BULK_MIB:-8}
bulk_size=$((bulk_mib << 20))
# How long the host's end waits: the rig moved 16 MiB each way in 120 s under load.
bulk_deadline=$((120 + 8 * bulk_mib))
bulk_peer_script=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/bulk_peer.py
start_bulk_peer() {
    local bind=$1 host=$2 ports= _
    python3 -u "$bulk_peer_script" "$bind" "$bulk_size" "$bulk_deadline" >"$scratch/bulk.out" &
    bulk_pid=$!
    for _ in $(seq 300); do  # the peer first draws its random bytes
        ports=$(sed -n 's/^ports //p' "$scratch/bulk.out")
        [[ -n $ports ]] && break
        sleep 0.1
    done
    read -r bulk_http bulk_back <<<"$ports"
    bulk_guest="
mkfifo /tmp/down
sha256sum </tmp/down >/tmp/down.sum &
t0=\$(date +%s)
wget -q -O - http://$host:$bulk_http/bulk | tee /tmp/down | nc $host $bulk_back
wait
echo bulk-sha=\$(cut -c1-64 /tmp/down.sum) bulk-seconds=\$((\$(date +%s) - t0))"
}
check_bulk() {
    local what=$1 sent back seconds
    wait "$bulk_pid"
    sent=$(awk '$1 == "sent" { print $3 }' "$scratch/bulk.out")
    back=$(awk '$1 == "back" { print $2, $3 }' "$scratch/bulk.out")
    seconds=$(grep -o 'bulk-seconds=[0-9]*' "$scratch/out" | cut -d= -f2)
    if [[ -n $sent ]] && has "bulk-sha=$sent"; then
        tap_ok "$what: $bulk_mib MiB host->guest with a matching sha256 (${seconds:-?} s both ways)"
    else
        not_ok "$what: $bulk_mib MiB host->guest with a matching sha256 (host: $(tr '\n' ' ' <"$scratch/bulk.out"))"
    fi
    if [[ -n $sent && $back == "$bulk_size $sent" ]]; then
        tap_ok "$what: $bulk_mib MiB guest->host with a matching sha256"
    else
        not_ok "$what: $bulk_mib MiB guest->host with a matching sha256 (host: $(tr '\n' ' ' <"$scratch/bulk.out"))"
    fi
}
