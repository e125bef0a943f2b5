# `berth vm run --jail DIR` (docs/sandbox.md) seen from outside, sourced by kvm-tests.sh
# after linux-tests.sh (uses its not_ok, $scratch, $kernel, $initramfs, $marker).
#
# One jailed Linux boot with a virtio disk and the API socket: while the guest waits for
# a line on hvc0, the VMM (berth's child) must be pivot_rooted into a root holding only
# its kernel, initrd, disk, /dev/kvm and the socket's directory, have no capabilities
# and no_new_privs, live in namespaces and a cgroup of its own, keep its per-thread
# seccomp filters, and be reachable through the API socket; the host's paths are not
# in its root. After it, no mount, cgroup or file is left and DIR is as it was. A jailed
# firmware run (fast) shows that a DIR berth created goes again.
if [[ -z ${linux_guest_ready:-} ]]; then
    tap_skip "jail tests" "no Debian kernel in /boot or no initramfs (busybox-static)"
    return 0 2>/dev/null || exit 0
fi
jail_dir=$scratch/jail
mkdir "$jail_dir"
echo keep >"$jail_dir/keep"  # DIR's own contents: hidden from the VMM, kept
jail_disk=$scratch/jail-disk.img
truncate -s 4M "$jail_disk"
jail_socket_dir=$scratch/jail-api
mkdir "$jail_socket_dir"
jail_socket=$jail_socket_dir/api.sock
jail_fifo=$scratch/jail.in
rm -f "$jail_fifo"
mkfifo "$jail_fifo"
jail_guest="
echo jail-disk | dd of=/dev/vda bs=512 conv=sync,fsync 2>/dev/null && echo disk=written
echo jail-ready
read line
echo got-\$line
exit 0"
cgroups_before=$(find /sys/fs/cgroup -maxdepth 6 -type d -name 'berth-vm-*' 2>/dev/null | wc -l)
exec 8<>"$jail_fifo"
timeout 300 "$BERTH" vm run --jail "$jail_dir" --kernel "$kernel" --initrd "$initramfs" \
    --console hvc0 --disk "$jail_disk" --api-socket "$jail_socket" \
    --cmdline "quiet berth_run=\"$jail_guest\"" \
    <"$jail_fifo" >"$scratch/jail-out" 2>"$scratch/jail-err" &
jail_timeout_pid=$!
wait_for "$scratch/jail-out" jail-ready 240 "$jail_timeout_pid"
# timeout runs berth (the supervisor), berth runs the jailed VMM.
jail_berth_pid=$(pgrep -P "$jail_timeout_pid" -x berth || true)
jail_vmm_pid=
if [[ -n $jail_berth_pid ]]; then
    jail_vmm_pid=$(pgrep -P "$jail_berth_pid" -x berth || true)
fi
if ! grep -q jail-ready "$scratch/jail-out" || [[ -z $jail_vmm_pid ]]; then
    not_ok "a jailed VM boots with a virtio disk"
    tap_diag "stdout: " <"$scratch/jail-out"
    tap_diag "stderr: " <"$scratch/jail-err"
    kill "$jail_timeout_pid" 2>/dev/null
    wait "$jail_timeout_pid" 2>/dev/null
    exec 8>&-
    return 0 2>/dev/null || exit 0
fi
proc=/proc/$jail_vmm_pid
# Its root: the three files under their base names, /dev/kvm, the socket's directory.
root_entries=$(cd "$proc/root" && find . -mindepth 1 | sort | tr '\n' ' ')
want_entries=$(printf '%s\n' ./dev ./dev/kvm ./run ./run/api ./run/api/api.sock \
    "./$(basename "$(realpath "$kernel")")" "./$(basename "$(realpath "$initramfs")")" ./jail-disk.img | sort | tr '\n' ' ')
if [[ $root_entries == "$want_entries" && ! -e $proc/root$scratch && ! -e $proc/root/etc/passwd &&
      ! -e $proc/root/keep && ! -e $proc/root/proc/self ]]; then
    tap_ok "the jailed VMM's root holds only its files, /dev/kvm and the API socket"
else
    not_ok "the jailed VMM's root: got [$root_entries], want [$want_entries]"
fi
caps=$(awk '/^Cap(Inh|Prm|Eff|Bnd|Amb):/ { printf "%s ", $2 }' "$proc/status")
nnp=$(awk '$1 == "NoNewPrivs:" { print $2 }' "$proc/status")
if [[ $caps == "0000000000000000 0000000000000000 0000000000000000 0000000000000000 0000000000000000 " &&
      $nnp == 1 ]]; then
    tap_ok "the jailed VMM has no capabilities (every set, bounding included) and no_new_privs"
else
    not_ok "the jailed VMM's capabilities [$caps], NoNewPrivs $nnp"
fi
shared_ns=
for ns in mnt pid ipc uts net cgroup; do
    [[ $(readlink "$proc/ns/$ns") == "$(readlink /proc/self/ns/$ns)" ]] && shared_ns+="$ns "
done
jail_pid_inside=$(awk '$1 == "NSpid:" { print $NF }' "$proc/status")
if [[ -z $shared_ns && $jail_pid_inside == 1 ]]; then
    tap_ok "the jailed VMM has its own mount, pid (it is 1), ipc, uts, network and cgroup namespaces"
else
    not_ok "the jailed VMM shares namespaces [$shared_ns], pid inside $jail_pid_inside"
fi
vmm_cgroup=$(cat "$proc/cgroup")
if ! grep -q '^cgroup' /proc/mounts; then
    # tools/kvm-rig's L1 mounts no cgroup file system, so berth has no controller to put
    # the VMM under (a root berth on a host with cgroups makes berth-vm-PID).
    tap_skip "the jailed VMM's own cgroup" "no cgroup file system is mounted here"
elif grep -q "/berth-vm-$jail_berth_pid\$" <<<"$vmm_cgroup" &&
   ! grep -q "berth-vm" "/proc/$jail_berth_pid/cgroup"; then
    tap_ok "the jailed VMM is in a cgroup of its own (berth-vm-PID), its supervisor is not"
else
    not_ok "the jailed VMM's cgroup: $(tr '\n' ' ' <<<"$vmm_cgroup")"
fi
unfiltered=$(for task in "$proc"/task/*; do
    awk '$1 == "Seccomp:" && $2 != 2 { print FILENAME }' "$task/status"
done)
if [[ -z $unfiltered ]] && ! grep -q " $jail_dir " /proc/self/mountinfo; then
    tap_ok "every jailed thread keeps its seccomp filter; the host sees no mount on DIR"
else
    not_ok "jailed threads without a filter [$unfiltered], or a mount on DIR on the host"
fi
ctl_status=0
timeout 60 "$BERTH" vm ctl "$jail_socket" info >"$scratch/jail-info.json" 2>&1 || ctl_status=$?
echo go >&8
wait "$jail_timeout_pid"
jail_status=$?
exec 8>&-
cgroups_after=$(find /sys/fs/cgroup -maxdepth 6 -type d -name 'berth-vm-*' 2>/dev/null | wc -l)
jail_has() { grep -qF -- "$1" "$scratch/jail-out"; }
if [[ $jail_status -eq 0 && $ctl_status -eq 0 ]] && jail_has disk=written && jail_has got-go &&
   grep -q '"state":"running"' "$scratch/jail-info.json" &&
   [[ $(head -c 9 "$jail_disk") == jail-disk ]]; then
    tap_ok "jailed: the disk, hvc0 input and the API socket work, and the guest powers off (status 0)"
else
    not_ok "jailed: disk, hvc0 input, API, poweroff (status $jail_status, ctl $ctl_status)"
    tap_diag "stdout: " <"$scratch/jail-out"
    tap_diag "stderr: " <"$scratch/jail-err"
    tap_diag "info: " <"$scratch/jail-info.json"
fi
if [[ $(ls -A "$jail_dir") == keep && $(cat "$jail_dir/keep") == keep &&
      -z $(ls -A "$jail_socket_dir") && $cgroups_after == "$cgroups_before" ]] &&
   ! grep -q "$jail_dir" /proc/self/mountinfo; then
    tap_ok "after a jailed run: DIR as it was, no socket, mount or cgroup left"
else
    not_ok "after a jailed run: DIR holds [$(ls -A "$jail_dir" | tr '\n' ' ')], socket dir [$(ls -A "$jail_socket_dir")], cgroups $cgroups_before -> $cgroups_after"
fi

# A DIR that did not exist is made for the run and removed after it; an error the VMM
# raises inside names the user's path, not the jail's.
run_berth vm run --jail "$scratch/new-jail" --firmware "$BERTH_FIRMWARE_DIR/hello.bin"
if [[ $status -eq 0 ]] && grep -q "Hello from the berth guest firmware" "$scratch/out" &&
   [[ ! -e $scratch/new-jail ]]; then
    tap_ok "a jailed firmware run in a DIR berth creates, removed afterwards"
else
    not_ok "a jailed firmware run in a new DIR (status $status)"
fi
head -c $((2 * 1024 * 1024)) /dev/zero >"$scratch/jail-big.bin"
run_berth vm run --jail "$scratch/new-jail" --firmware "$scratch/jail-big.bin" --memory 2M
if [[ $status -eq 2 && $(wc -l <"$scratch/err") -eq 1 ]] &&
   grep -qF "firmware $scratch/jail-big.bin (" "$scratch/err" && ! grep -qF " /jail-big.bin" "$scratch/err" &&
   [[ ! -e $scratch/new-jail ]]; then
    tap_ok "an error inside the jail names the user's path, one line, status 2"
else
    not_ok "an error inside the jail names the user's path (status $status)"
fi
