# Linux guest tests, sourced by kvm-tests.sh (uses kvm-prelude.sh's not_ok, $scratch,
# boot_linux and has). Boots Debian's kernel with the busybox initramfs.
if [[ -z $linux_guest_ready ]]; then
    tap_skip "Linux guest tests" "no Debian kernel in /boot or no initramfs (busybox-static)"
    return 0 2>/dev/null || exit 0
fi

# One vCPU: marker, CPU count, command line, a file from the initrd, status via port 0x501.
boot_linux 1 'echo cpus=$(grep -c ^processor /proc/cpuinfo); cat /proc/cmdline; cat /etc/berth-release; exit 7'
if has "$marker"; then tap_ok "Linux boots to the userspace marker with 1 vCPU"; else not_ok "Linux boots to the userspace marker with 1 vCPU (status $status)"; fi
if has "cpus=1"; then tap_ok "the guest counts 1 CPU in /proc/cpuinfo"; else not_ok "the guest counts 1 CPU in /proc/cpuinfo"; fi
if grep -q "berth_test=cmdline-ok" "$scratch/out" && grep -q "console=ttyS0" "$scratch/out"; then
    tap_ok "--cmdline reaches /proc/cmdline after berth's defaults"
else
    not_ok "--cmdline reaches /proc/cmdline after berth's defaults"
fi
if has "berth default guest"; then tap_ok "a file in the initrd is readable"; else not_ok "a file in the initrd is readable"; fi
# The default guest's first impression: with `quiet` the kernel prints only error lines
# ("[   1.234] ..."), and berth's machine gives it nothing to complain about: no
# "PCI: Fatal: No config space access function found" (what pci=off printed), nothing else.
if has "$marker" && ! grep -qE '^\[ *[0-9]+\.[0-9]+\] ' "$scratch/out"; then
    tap_ok "a quiet boot with no PCI device prints no kernel error line"
else
    not_ok "a quiet boot with no PCI device prints no kernel error line: $(grep -E '^\[ *[0-9]+\.[0-9]+\] ' "$scratch/out" | head -3 | tr '\n' '|')"
fi
if [[ $status -eq 7 ]] && has "berth-guest: exit 7"; then
    tap_ok "the debug-exit port passes the guest's status through (7)"
else
    not_ok "the debug-exit port passes the guest's status through (status $status, want 7)"
fi

# Two vCPUs: both come up (MADT lists them, the APs start).
boot_linux 2 'echo cpus=$(grep -c ^processor /proc/cpuinfo); exit 0'
if [[ $status -eq 0 ]] && has "$marker" && has "cpus=2"; then
    tap_ok "Linux boots with 2 vCPUs and counts 2 CPUs"
else
    not_ok "Linux boots with 2 vCPUs and counts 2 CPUs (status $status)"
fi

# --trace on a Linux boot: valid JSON, one event per exit that --trace-exits counts,
# one thread row (tid) per vCPU, both of which exited at least once.
boot_linux 2 'exit 0' --trace "$scratch/linux-trace.json" --trace-exits
total=$(awk '/^VM exits:/ { print $3 }' "$scratch/err")
if [[ $status -eq 0 ]] && python3 - "$scratch/linux-trace.json" "$total" <<'PY'
import json, sys
events = json.load(open(sys.argv[1]))["traceEvents"]
exits = [e for e in events if e.get("ph") == "X"]
assert len(exits) == int(sys.argv[2]) > 0, (len(exits), sys.argv[2])
assert {e["tid"] for e in exits} == {0, 1}, {e["tid"] for e in exits}
names = {e["args"]["name"] for e in events if e.get("ph") == "M" and e["name"] == "thread_name"}
assert {"vCPU 0", "vCPU 1"} <= names, names
PY
then
    tap_ok "--trace of a 2-vCPU Linux boot: valid JSON, $total events = --trace-exits total, tids 0 and 1"
else
    not_ok "--trace of a 2-vCPU Linux boot (status $status, total $total)"
fi
# The same boot's PCI configuration accesses (address writes to port 0xcf8): the probe
# of bus 0 through PCI0 is a few hundred; an early scan of every bus number (2 x 8,192
# on a CPU family with a K8 GART, such as the rig's; berth passes pci=noearly) is not.
cf8=$(awk '$1 == "0xcf8" && $2 == "out" { print $3 }' "$scratch/err")
if [[ $status -eq 0 && ${cf8:-0} -lt 2000 ]]; then
    tap_ok "a Linux boot with no PCI device makes ${cf8:-0} (< 2000) PCI config accesses"
else
    not_ok "a Linux boot with no PCI device makes ${cf8:-0} PCI config accesses (want < 2000, status $status)"
fi

# poweroff -f goes through ACPI S5 (the sleep control port): status 0.
boot_linux 1 'poweroff -f; sleep 30'
if [[ $status -eq 0 ]] && has "$marker" && ! has "berth-guest: exit"; then
    tap_ok "guest poweroff ends berth with status 0"
else
    not_ok "guest poweroff ends berth with status 0 (status $status)"
fi

# reboot -f with reboot=k goes through the i8042: status 0.
boot_linux 1 'reboot -f; sleep 30'
if [[ $status -eq 0 ]] && has "$marker" && ! has "berth-guest: exit"; then
    tap_ok "guest reboot ends berth with status 0"
else
    not_ok "guest reboot ends berth with status 0 (status $status)"
fi

# type_at_console [ARGS...]: boots the default guest (its shell on the console) with
# ARGS, types a command once the prompt shows, then `poweroff`. The command's output
# differs from its echo, so only the guest shell can produce it. Status in $status.
type_at_console() {
    local fifo=$scratch/console-in console_pid i
    rm -f "$fifo" "$scratch/console-status"
    mkfifo "$fifo"
    (timeout 150 "$BERTH" vm run --kernel "$kernel" --initrd "$initramfs" --cmdline quiet "$@" \
        <"$fifo" >"$scratch/out" 2>"$scratch/err"; echo $? >"$scratch/console-status") &
    console_pid=$!
    exec 7<>"$fifo"  # read-write: a berth that ended cannot SIGPIPE this shell
    for ((i = 0; i < 1200; ++i)); do
        grep -qF 'berth# ' "$scratch/out" 2>/dev/null && break
        [[ -s $scratch/console-status ]] && break
        sleep 0.1
    done
    printf 'echo berth-$((6 * 7))-ok\n' >&7
    for ((i = 0; i < 300; ++i)); do
        grep -qF 'berth-42-ok' "$scratch/out" && break
        sleep 0.1
    done
    printf 'poweroff\n' >&7
    wait "$console_pid"
    exec 7>&-
    status=$(cat "$scratch/console-status" 2>/dev/null || echo none)
}

type_at_console
if grep -qF 'berth-42-ok' "$scratch/out"; then
    tap_ok "the serial console is interactive (typed command runs in the guest shell)"
else
    not_ok "the serial console is interactive (typed command runs in the guest shell)"
fi
if [[ $status == 0 ]]; then
    tap_ok "poweroff typed at the shell ends berth with status 0"
else
    not_ok "poweroff typed at the shell ends berth with status 0 (status $status)"
fi

# A guest that panics reboots at once (panic=-1): berth must not hang.
# Bad rdinit: the kernel cannot find init and panics.
status=0
timeout 150 "$BERTH" vm run --kernel "$kernel" --initrd "$initramfs" \
    --cmdline "quiet rdinit=/no-such-init init=/no-such-init" >"$scratch/out" 2>"$scratch/err" </dev/null || status=$?
if [[ $status -eq 0 ]] && grep -q "Kernel panic" "$scratch/out"; then
    tap_ok "a guest kernel panic reboots and ends berth (no hang)"
else
    not_ok "a guest kernel panic reboots and ends berth (no hang) (status $status)"
fi

# SIGTERM stops the VM cleanly: status 128+15, no leftover threads.
status=0
timeout 150 "$BERTH" vm run --kernel "$kernel" --initrd "$initramfs" --cmdline quiet \
    </dev/null >"$scratch/out" 2>"$scratch/err" &
term_pid=$!
for ((i = 0; i < 1200; ++i)); do
    grep -qF "$marker" "$scratch/out" 2>/dev/null && break
    sleep 0.1
done
kill -TERM "$term_pid" 2>/dev/null
wait "$term_pid" || status=$?
if [[ $status -eq 143 ]]; then
    tap_ok "SIGTERM stops the VM cleanly (status 143)"
else
    not_ok "SIGTERM stops the VM cleanly (status $status, want 143)"
fi

# --hugepages: guest RAM comes from the host's hugetlbfs pool. The pool is sized so
# that exactly 64 pages (128 MiB) are free: a 128 MiB guest fits and boots, a 130 MiB
# one does not and is refused with status 2 (proof that berth really takes its RAM
# from the pool). The pool's size is restored afterwards.
hugepages_total=$(awk '/^HugePages_Total:/ { print $2 }' /proc/meminfo)
hugepages_free=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
if [[ -w /proc/sys/vm/nr_hugepages ]] &&
   echo $((hugepages_total - hugepages_free + 64)) >/proc/sys/vm/nr_hugepages 2>/dev/null &&
   [[ $(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo) -eq 64 ]]; then
    boot_linux 1 'exit 0' --memory 128M --hugepages
    if [[ $status -eq 0 ]] && has "$marker"; then
        tap_ok "--hugepages: a 128 MiB guest boots on 64 reserved 2 MiB pages"
    else
        not_ok "--hugepages: a 128 MiB guest boots on 64 reserved 2 MiB pages (status $status)"
    fi
    boot_linux 1 'exit 0' --memory 130M --hugepages
    if [[ $status -eq 2 ]] && grep -q -- "cannot start VM: cannot map 130 MiB of guest RAM on 2 MiB huge pages" "$scratch/err" && [[ $(wc -l <"$scratch/err") -eq 1 ]]; then
        tap_ok "--hugepages with too few free pages: one line, status 2"
    else
        not_ok "--hugepages with too few free pages: one line, status 2 (status $status)"
    fi
else
    tap_skip "--hugepages: a 128 MiB guest boots on 64 reserved 2 MiB pages" "cannot size the huge page pool here"
    tap_skip "--hugepages with too few free pages: one line, status 2" "cannot size the huge page pool here"
fi
[[ -w /proc/sys/vm/nr_hugepages ]] && echo "$hugepages_total" >/proc/sys/vm/nr_hugepages 2>/dev/null

# --reboot restart: the guest's reboot starts it again. The first boot leaves a mark
# on a disk and reboots; the second finds the mark and exits with status 7.
truncate -s 1M "$scratch/reboot.img"
boot_linux 1 'head -c 6 /dev/vda | grep -q booted && exit 7; echo booted | dd of=/dev/vda conv=fsync 2>/dev/null; reboot -f; sleep 30' \
    --disk "$scratch/reboot.img" --reboot restart
if [[ $status -eq 7 ]] && [[ $(grep -c "berth-guest: userspace ready" "$scratch/out") -eq 2 ]] &&
   grep -q "starting it again" "$scratch/err"; then
    tap_ok "--reboot restart boots the guest again after its reboot (two boots, status of the second)"
else
    not_ok "--reboot restart boots the guest again after its reboot (status $status)"
fi
