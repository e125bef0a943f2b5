#!/usr/bin/env bash
# The KVM integration tests themselves (run-kvm-tests.sh decides where they run).
# Each test runs berth as a user would and checks its output and exit status. TAP.
set -u
# shellcheck source=../lib/tap.sh
. "$(dirname "$0")/../lib/tap.sh"
# shellcheck source=kvm-prelude.sh
source "$(dirname "$0")/kvm-prelude.sh"

# --- lesson 1: the greeting ---------------------------------------------------------
hello=$BERTH_FIRMWARE_DIR/hello.bin
greeting="Hello from the berth guest firmware!"
run_berth vm run --firmware "$hello"
if [[ $status -eq 0 && "$(cat "$scratch/out")" == "$greeting" ]]; then
    tap_ok "hello firmware prints the greeting and exits 0"
else
    not_ok "hello firmware prints the greeting and exits 0 (status $status)"
fi

# --trace-exits: the firmware writes LCR twice, DLL and DLM once each, then one THR
# write per character including the newline; it reads LSR at least once per character.
run_berth vm run --firmware "$hello" --trace-exits
chars=$(( ${#greeting} + 1 ))
port_count() { awk -v p="$1" -v d="$2" '$1 == p && $2 == d { print $3 }' "$scratch/err"; }
thr=$(port_count 0x3f8 out)
dlm=$(port_count 0x3f9 out)
lcr=$(port_count 0x3fb out)
lsr=$(port_count 0x3fd in)
io=$(awk '$1 == "IO" { print $2 }' "$scratch/err")
hlt=$(awk '$1 == "HLT" { print $2 }' "$scratch/err")
if [[ $status -eq 0 && $thr == $((chars + 1)) && $dlm == 1 && $lcr == 2 && ${lsr:-0} -ge $chars
      && $io == $((thr + dlm + lcr + lsr)) && $hlt == 1 ]]; then
    tap_ok "--trace-exits counts exactly the firmware's port writes ($thr THR, $lcr LCR, $dlm DLM)"
else
    not_ok "--trace-exits counts exactly the firmware's port writes (thr=$thr dlm=$dlm lcr=$lcr lsr=$lsr io=$io hlt=$hlt)"
fi

# A guest that halts with interrupts enabled can never wake: berth says so, status 1.
printf '\xfb\xf4' >"$scratch/sti-hlt.bin"   # sti; hlt
run_berth vm run --firmware "$scratch/sti-hlt.bin"
if [[ $status -eq 1 ]] && grep -q "interrupts enabled" "$scratch/err"; then
    tap_ok "hlt with interrupts enabled is reported, status 1"
else
    not_ok "hlt with interrupts enabled is reported, status 1 (status $status)"
fi

# --- lessons 2-6, the debug exit port, the exit trace ------------------------------
area lesson

# --- fw_cfg and QEMU's debug-exit port ---------------------------------------------
area fw-cfg

# --- Multiboot kernels: the information structure, ELF32, ELF64 and flat ------------
area multiboot

# --- Linux guests: Debian's kernel with the busybox initramfs ------------------------
area linux

# --- the same kernel as an ELF vmlinux, through its PVH entry -------------------------
area pvh

# --- virtio-pci devices in a Linux guest ---------------------------------------------
area virtio

# --- the images people have: partitioned qcow2 disks ----------------------------------
area image

# --- virtio-net with user-mode networking --------------------------------------------
area net
area bridge

# --- two NICs, --net bridge=NAME and --ip ----------------------------------------------
area net-options

# --- vhost-net: the kernel's data plane on berth0 ------------------------------------
area vhost

# --- the control API: pause, resume, stats, stop -------------------------------------
area api

# --- snapshot and restore ------------------------------------------------------------
area snapshot

# --- a hostile guest: every PCI and virtio register and broken rings ------------------
area hostile

# --- the VMM's seccomp sandbox: every thread filtered -------------------------------
area sandbox

# --- the VMM's jail: vm run --jail DIR ------------------------------------------------
area jail

# --- nothing left behind: fds, threads, sockets, taps, temporary files, mounts ------
area leak

# --- durability: SIGKILL at random moments loses no flushed record ------------------
area durability

# --- snapshot and restore of a VM with NICs -------------------------------------------
area snapshot-net

tap_done
