# PVH boot of an ELF vmlinux (vmm/boot/pvh.hpp), sourced by kvm-tests.sh (uses
# kvm-prelude.sh's not_ok, $scratch, $kernel, $initramfs and has). The guest is Debian's
# own kernel, unpacked from its bzImage on the host (images/extract-vmlinux.sh, the
# meson target `vmlinux`, passed as BERTH_VMLINUX), with the same busybox initramfs: one
# boot (~20-40 s in the rig). Alone in the rig:
#   tools/kvm-rig --share $PWD -- env BERTH=$PWD/build/berth BERTH_FIRMWARE_DIR=$PWD/build/guest-firmware \
#     BERTH_INITRAMFS=$PWD/build/images/initramfs.cpio.gz BERTH_VMLINUX=$PWD/build/images/vmlinux \
#     bash -c '. tests/lib/tap.sh; . tests/integration/kvm-prelude.sh; . tests/integration/pvh-tests.sh; tap_done'
vmlinux=${BERTH_VMLINUX:-}
if [[ -z $linux_guest_ready || -z $vmlinux || ! -r $vmlinux ]]; then
    tap_skip "PVH boot of an ELF vmlinux" "no initramfs or no vmlinux (BERTH_VMLINUX; meson target vmlinux)"
    return 0 2>/dev/null || exit 0
fi

# The zero page Linux builds for itself from start_info records who booted it: its
# type_of_loader (offset 0x210) is 0xb0 after a PVH entry outside Xen, where berth's
# bzImage boot leaves 0xff. The e820 lines show the memory map berth passed.
pvh_run='echo loader$(od -An -tx1 -j 528 -N 1 /sys/kernel/boot_params/data); cat /proc/cmdline; cat /etc/berth-release; dmesg | grep -F BIOS-e820; exit 5'
status=0
timeout 150 "$BERTH" vm run --kernel "$vmlinux" --initrd "$initramfs" --memory 192M \
    --cmdline "quiet berth_test=pvh-cmdline-ok berth_run=\"$pvh_run\"" \
    >"$scratch/out" 2>"$scratch/err" </dev/null || status=$?
if [[ $status -eq 5 ]] && has "$marker" && has "loader b0"; then
    tap_ok "an ELF vmlinux boots through its PVH note to the initramfs marker"
else
    not_ok "an ELF vmlinux boots through its PVH note to the initramfs marker (status $status, want 5)"
fi
if grep -q "console=ttyS0.*berth_test=pvh-cmdline-ok" "$scratch/out"; then
    tap_ok "PVH: start_info's command line reaches /proc/cmdline"
else
    not_ok "PVH: start_info's command line reaches /proc/cmdline"
fi
if has "berth default guest"; then
    tap_ok "PVH: the initrd (start_info's first module) is the root file system"
else
    not_ok "PVH: the initrd (start_info's first module) is the root file system"
fi
# --memory 192M: RAM from 1 MiB to 0xc000000, as start_info's memory map said.
if grep -q "BIOS-e820: \[mem 0x0000000000100000-0x000000000bffffff\] usable" "$scratch/out"; then
    tap_ok "PVH: the guest's memory map ends at --memory 192M"
else
    not_ok "PVH: the guest's memory map ends at --memory 192M"
fi
