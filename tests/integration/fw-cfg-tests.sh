# fw_cfg and QEMU's debug-exit port with a real guest (guest-firmware/fw-cfg.asm).
# Sourced by kvm-tests.sh: uses its not_ok, run_berth, $scratch and $BERTH_FIRMWARE_DIR.

fw_cfg_guest=$BERTH_FIRMWARE_DIR/fw-cfg.bin
printf 'Hello through fw_cfg!\n' >"$scratch/greeting"

# The guest finds its file in the directory, prints it, and writes 0x2a to port 0xf4:
# berth ends with QEMU's (0x2a << 1) | 1 = 85.
cat >"$scratch/expected" <<'OUT'
fw_cfg signature: QEMU
RAM: 16777216 bytes
opt/berth/greeting: Hello through fw_cfg!
OUT
run_berth vm run --firmware "$fw_cfg_guest" --debug-exit 0xf4 \
    --fw-cfg "name=opt/berth/greeting,file=$scratch/greeting" --trace-exits
if [[ $status -eq 85 ]] && cmp -s "$scratch/out" "$scratch/expected" \
    && grep -q '^  0xf4  *out  *1  debug exit (QEMU isa-debug-exit)' "$scratch/err"; then
    tap_ok "fw_cfg: a guest reads the signature, RAM size and an --fw-cfg file; 0xf4 ends berth with status 85"
else
    not_ok "fw_cfg: a guest reads the signature, RAM size and an --fw-cfg file; 0xf4 ends berth with status 85 (status $status)"
    diff "$scratch/expected" "$scratch/out" | sed 's/^/# diff: /'
fi

# No such file: the guest says so and writes 1 (a byte) to 0xf4, status 3.
run_berth vm run --firmware "$fw_cfg_guest" --debug-exit 0xf4 \
    --fw-cfg "name=opt/berth/other,file=$scratch/greeting"
if [[ $status -eq 3 ]] && grep -q '^no opt/berth/greeting in the fw_cfg directory$' "$scratch/out"; then
    tap_ok "fw_cfg: a file missing from the directory; an outb of 1 to 0xf4 is status 3"
else
    not_ok "fw_cfg: a file missing from the directory; an outb of 1 to 0xf4 is status 3 (status $status)"
fi

# Without --debug-exit 0xf4 nothing answers port 0xf4: the write is dropped and the
# guest's `hlt` (interrupts off) ends the run cleanly.
run_berth vm run --firmware "$fw_cfg_guest" \
    --fw-cfg "name=opt/berth/greeting,file=$scratch/greeting"
if [[ $status -eq 0 ]] && cmp -s "$scratch/out" "$scratch/expected"; then
    tap_ok "fw_cfg: port 0xf4 is no debug exit without --debug-exit 0xf4 (status 0)"
else
    not_ok "fw_cfg: port 0xf4 is no debug exit without --debug-exit 0xf4 (status $status)"
fi
