# A hostile guest (issue 18): guest-firmware/hostile/, a Multiboot kernel, probes every
# PCI function and virtio register with boundary and random values and submits broken
# rings to every kind of virtio device berth has. berth must neither crash nor hang: the
# guest checks that each broken ring put its device in NEEDS_RESET, that each device
# still serves a correct request after a reset, prints a verdict and powers off (status
# 0). Sourced by kvm-tests.sh (uses its not_ok, $scratch, $BERTH_FIRMWARE_DIR).
#   BERTH_HOSTILE_SEED    the guest's random seed (default fixed, so a failure repeats)
#   BERTH_HOSTILE_ROUNDS  random rounds per device (default 8)
hostile=$BERTH_FIRMWARE_DIR/hostile.elf
hostile_seed=${BERTH_HOSTILE_SEED:-0x62657274}
hostile_rounds=${BERTH_HOSTILE_ROUNDS:-8}
truncate -s 4M "$scratch/hostile-rw.img"
# The read-only disk feeds the guest's self-filling ring: sector N holds the available
# index N + 2 and the sector number N + 1, then the mark the guest looks for
# (guest-firmware/hostile/cases.c, run_feeding_ring). Sparse: 32 MiB, 64 bytes a sector.
python3 - "$scratch/hostile-ro.img" <<'PY'
import struct, sys
with open(sys.argv[1], "wb") as disk:
    for n in range(65536):
        disk.seek(n * 512)
        disk.write(struct.pack("<H6xQ", (n + 2) & 0xffff, (n + 1) & 0xffff) + b"berth-hostile-feed")
    disk.truncate(65536 * 512)
PY
# Every device kind: two disks (one read-only), the entropy device, a NIC with user-mode
# networking (when libslirp is there), and the virtio console.
hostile_net=(--net user)
if ! ldconfig -p 2>/dev/null | grep -q 'libslirp\.so\.0'; then
    hostile_net=()
    tap_diag "no libslirp: the hostile guest runs without a NIC"
fi
hostile_start=$SECONDS
status=0
timeout 600 "$BERTH" vm run --kernel "$hostile" --memory 64M \
    --cmdline "seed=$hostile_seed rounds=$hostile_rounds" \
    --disk "$scratch/hostile-rw.img" --disk "$scratch/hostile-ro.img,ro" --rng \
    "${hostile_net[@]}" --console hvc0 >"$scratch/out" 2>"$scratch/err" </dev/null || status=$?
hostile_seconds=$((SECONDS - hostile_start))
tap_diag "the hostile guest ran ${hostile_seconds} s (seed $hostile_seed, $hostile_rounds rounds)"
# The virtio console's share of stdout is whatever bytes the cases hand it, without
# newlines: take each report from its "hostile: " on.
tr -d '\r' <"$scratch/out" | grep -ao 'hostile: .*' >"$scratch/hostile-report"
if [[ $status -eq 0 ]] && grep -q '^hostile: verdict pass' "$scratch/hostile-report"; then
    tap_ok "hostile guest (seed $hostile_seed): berth survives every attack, the guest powers off (status 0): $(grep '^hostile: verdict' "$scratch/hostile-report")"
else
    not_ok "hostile guest (seed $hostile_seed): berth survives every attack, the guest powers off (status $status; 124 is a hang)"
    sed 's/^/# report: /' "$scratch/hostile-report"
fi

# Each device kind was found, attacked and still answers a correct request.
hostile_kinds=(virtio-blk virtio-rng virtio-console)
[[ ${#hostile_net[@]} -gt 0 ]] && hostile_kinds+=(virtio-net)
missing=()
for kind in "${hostile_kinds[@]}"; do
    grep -q "^hostile: $kind slot [0-9]*: .* 0 failed; recovered" "$scratch/hostile-report" \
        || missing+=("$kind")
done
blk_count=$(grep -c '^hostile: virtio-blk slot .*recovered' "$scratch/hostile-report")
if [[ ${#missing[@]} -eq 0 && $blk_count -eq 2 ]] \
    && grep -q '^hostile: virtio-console still transmits' "$scratch/hostile-report"; then
    tap_ok "hostile guest: every device ($(IFS=,; echo "${hostile_kinds[*]}"), 2 disks) failed no case and served a correct request afterwards"
else
    not_ok "hostile guest: every device failed no case and served a correct request afterwards (missing: ${missing[*]:-none}; disks: $blk_count)"
    grep -a 'FAIL' "$scratch/hostile-report" | head -20 | sed 's/^/# /'
fi

# berth's side of NEEDS_RESET: one line naming the device and the reason for each broken
# ring; nothing a sanitizer or the C++ runtime would print.
needs_reset_lines=$(grep -c 'the device needs a reset' "$scratch/err")
silent=()
for kind in "${hostile_kinds[@]}"; do
    grep -q "^berth: $kind.*the device needs a reset" "$scratch/err" || silent+=("$kind")
done
if [[ ${#silent[@]} -eq 0 && $needs_reset_lines -ge 40 ]] \
    && ! grep -qE 'AddressSanitizer|runtime error|terminate called|Assertion' "$scratch/err"; then
    tap_ok "hostile guest: berth reported $needs_reset_lines devices needing a reset, each with its reason, and no sanitizer or runtime error"
else
    not_ok "hostile guest: berth reported NEEDS_RESET for every device kind (silent: ${silent[*]:-none}; $needs_reset_lines lines)"
fi
