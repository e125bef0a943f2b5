# The firmware lessons (guest-firmware/, docs/lessons/), the debug exit port and the
# exit trace. Sourced by kvm-tests.sh: uses its not_ok, run_berth and $scratch.

# expect_output NAME: compares berth's stdout with $scratch/expected, status with 0.
expect_output() {
    if [[ $status -eq 0 ]] && cmp -s "$scratch/out" "$scratch/expected"; then
        tap_ok "$1"
    else
        not_ok "$1 (status $status)"
        diff "$scratch/expected" "$scratch/out" | sed 's/^/# diff: /'
    fi
}
# table_count ROW_KEY COLUMN: a number from the --trace-exits table in $scratch/err.
table_count() { awk -v k="$1" -v c="$2" '$1 == k { print $c; exit }' "$scratch/err"; }
port_count() { awk -v p="$1" -v d="$2" '$1 == p && $2 == d { print $3 }' "$scratch/err"; }

# --- berth lesson: the list, lesson 1 through the lesson command ---------------------
run_berth lesson
if [[ $status -eq 0 ]] && [[ $(grep -c '^  [1-8]  ' "$scratch/out") == 8 ]]; then
    tap_ok "berth lesson lists lessons 1-8"
else
    not_ok "berth lesson lists lessons 1-8 (status $status)"
fi
printf 'Hello from the berth guest firmware!\n' >"$scratch/expected"
run_berth lesson 1
expect_output "berth lesson 1 finds hello.bin next to berth and prints the greeting"
run_berth lesson 10
if [[ $status -eq 2 && $(wc -l <"$scratch/err") == 1 ]] && grep -q "no lesson 10" "$scratch/err"; then
    tap_ok "berth lesson 10: one line, status 2"
else
    not_ok "berth lesson 10: one line, status 2 (status $status)"
fi

# --- lesson 2: protected mode ---------------------------------------------------------
cat >"$scratch/expected" <<'OUT'
Lesson 2: protected mode
Running 32-bit code after lgdt, CR0.PE=1 and a far jump
CS=0x00000008 DS=0x00000010
CR0.PE=1
Wrote 0xc0ffee02 at 2 MiB (out of real mode's reach), read back 0xc0ffee02
OUT
run_berth lesson 2
expect_output "lesson 2 prints from 32-bit protected mode with GDT selectors 0x08/0x10"

# --- lesson 3: long mode --------------------------------------------------------------
cat >"$scratch/expected" <<'OUT'
Lesson 3: long mode
Running 64-bit code after PAE paging, EFER.LME, CR0.PG and a far jump
EFER=0x00000500 (LME set by the guest, LMA set by the CPU)
OUT
run_berth lesson 3
# RIP depends on the code's layout; check the rest exactly and RIP's shape.
if [[ $status -eq 0 ]] && head -3 "$scratch/out" | cmp -s - "$scratch/expected" &&
   sed -n 4p "$scratch/out" | grep -qx 'RIP=0x00007[c-f][0-9a-f][0-9a-f]' &&
   sed -n 5p "$scratch/out" | grep -qx 'rax=2^32+42: high half 0x00000001, low half 0x0000002a'; then
    tap_ok "lesson 3 prints from 64-bit long mode (EFER.LMA set, 64-bit registers)"
else
    not_ok "lesson 3 prints from 64-bit long mode (status $status)"
fi

# --- lesson 4: MMIO -------------------------------------------------------------------
cat >"$scratch/expected" <<'OUT'
Lesson 4: MMIO
device at 0xd0000000 says: BRTH
echo through berth: HELLO, MMIO!
writes the device counted: 12
nothing at 0xd0001000 reads as 0xffffffff
OUT
run_berth lesson 4 --trace-exits
expect_output "lesson 4: the mmio echo device answers reads and writes at 0xd0000000"
# One exit per access: ID read, 12 echo writes + 12 reads, WRITES read, one unclaimed read.
mmio=$(table_count MMIO 2)
echo_writes=$(awk '$1 == "0xd0000004" && $2 == "write" { print $3 }' "$scratch/err")
unclaimed=$(awk '$1 == "0xd0001000" && $2 == "read" { print $4 }' "$scratch/err")
if [[ $mmio == 27 && $echo_writes == 12 && $unclaimed == "(none)" ]]; then
    tap_ok "lesson 4: --trace-exits counts 27 MMIO exits, 12 echo writes, 1 unclaimed read"
else
    not_ok "lesson 4: --trace-exits MMIO counts (mmio=$mmio echo_writes=$echo_writes unclaimed=$unclaimed)"
fi

# --- lesson 5: interrupts -------------------------------------------------------------
cat >"$scratch/expected" <<'OUT'
Lesson 5: interrupts
PIT at 100 Hz through the in-kernel PIC, vector 0x20; ticks: ..........
counted 10 timer interrupts; the vCPU slept in the kernel between them
OUT
run_berth lesson 5 --trace-exits
expect_output "lesson 5: 10 PIT interrupts through the in-kernel irqchip, ended by the debug exit port"
# The PIC and PIT live in KVM: their ports never exit; hlt never reaches berth.
if [[ -z $(port_count 0x20 out) && -z $(port_count 0x43 out) && -z $(table_count HLT 2)
      && $(port_count 0x501 out) == 1 ]]; then
    tap_ok "lesson 5: PIC, PIT and hlt stay in KVM; one exit to the debug port"
else
    not_ok "lesson 5: PIC, PIT and hlt stay in KVM; one exit to the debug port"
fi

# --- lesson 6: paravirtual console ----------------------------------------------------
cat >"$scratch/expected" <<'OUT'
Lesson 6: a paravirtual console
These lines went into buffers in guest memory,
were published in a ring, and reached berth
with a single VM exit.
berth consumed 4 buffers, 146 bytes, for one notify
a buffer at 0xfff00000 (outside RAM) was refused: status 3, result 0xffffffff
OUT
run_berth lesson 6 --trace-exits
expect_output "lesson 6: four ring buffers printed by berth, a buffer outside RAM refused"
if [[ $(port_count 0x524 out) == 2 && $(port_count 0x520 out) == 1 ]]; then
    tap_ok "lesson 6: two notify exits carry five buffers"
else
    not_ok "lesson 6: two notify exits carry five buffers (notify=$(port_count 0x524 out))"
fi

# --- the debug exit port --------------------------------------------------------------
printf '\xb0\x07\xba\x01\x05\xee\xf4' >"$scratch/exit7.bin"   # mov al,7; mov dx,0x501; out dx,al; hlt
run_berth vm run --firmware "$scratch/exit7.bin"
if [[ $status -eq 7 && ! -s $scratch/err ]]; then
    tap_ok "writing 7 to port 0x501 stops the machine with status 7"
else
    not_ok "writing 7 to port 0x501 stops the machine with status 7 (status $status)"
fi

# --- the exit trace -------------------------------------------------------------------
trace=$scratch/hello-trace.json
run_berth vm run --firmware "$BERTH_FIRMWARE_DIR/hello.bin" --trace "$trace" --trace-exits
total=$(awk '/^VM exits:/ { print $3 }' "$scratch/err")
if [[ $status -eq 0 ]] && python3 -m json.tool "$trace" >/dev/null &&
   python3 - "$trace" "$total" <<'PY'
import json, sys
events = json.load(open(sys.argv[1]))["traceEvents"]
exits = [e for e in events if e.get("ph") == "X"]
assert len(exits) == int(sys.argv[2]), (len(exits), sys.argv[2])
for e in exits:
    assert {"name", "ph", "ts", "dur", "pid", "tid", "args"} <= e.keys(), e
    assert e["dur"] >= 0 and e["tid"] == 0 and e["cat"] == "exit", e
starts = [e["ts"] for e in exits]
assert starts == sorted(starts), "exits out of order"
assert exits[-1]["args"]["reason"] == "HLT"
assert sum(1 for e in exits if e["name"] == "IO out 0x3f8") == 38
assert any(e["ph"] == "M" and e["args"]["name"] == "vCPU 0" for e in events)
PY
then
    tap_ok "--trace writes valid Chrome trace JSON with one X event per exit ($total)"
else
    not_ok "--trace writes valid Chrome trace JSON with one X event per exit (status $status, total $total)"
fi
run_berth vm run --firmware "$BERTH_FIRMWARE_DIR/hello.bin" --trace /nonexistent-dir/t.json
if [[ $status -eq 2 && $(wc -l <"$scratch/err") == 1 && ! -s $scratch/out ]] &&
   grep -q -- "cannot start VM: trace file /nonexistent-dir/t.json: cannot create: No such file" "$scratch/err"; then
    tap_ok "--trace into a missing directory: one line, status 2, guest not started"
else
    not_ok "--trace into a missing directory: one line, status 2, guest not started (status $status)"
fi

# --- lesson 7: the boot_params a Linux guest receives --------------------------------
# bootparams.bin is a minimal bzImage; berth's Linux loader boots it like a kernel. The
# e820 map it prints must be the PC layout for the memory berth was given: RAM below
# the EBDA, the EBDA and the BIOS area reserved, RAM from 1 MiB to the end of --memory.
bootparams=$BERTH_FIRMWARE_DIR/bootparams.bin
cat >"$scratch/expected" <<'OUT'
e820 entries: 4
  e820[0] addr=0x0000000000000000 size=0x000000000009fc00 type=1 (usable RAM)
  e820[1] addr=0x000000000009fc00 size=0x0000000000000400 type=2 (reserved)
  e820[2] addr=0x00000000000e0000 size=0x0000000000020000 type=2 (reserved)
  e820[3] addr=0x0000000000100000 size=0x0000000007f00000 type=1 (usable RAM)
initrd: none
OUT
run_berth vm run --kernel "$bootparams" --memory 128M --cmdline lesson7-cmdline
grep -e '^e820\|^  e820\|^initrd:' "$scratch/out" >"$scratch/got"
# The command line: berth's own parameters (console=ttyS0 first), then --cmdline's.
if [[ $status -eq 0 ]] && cmp -s "$scratch/got" "$scratch/expected" &&
   grep -qx 'cmdline: "console=ttyS0 [^"]* lesson7-cmdline"' "$scratch/out" &&
   grep -qx 'cmd_line_ptr: 0x0000000000020000' "$scratch/out" &&
   grep -qx 'zero page at 0x0000000000007000, type_of_loader 0xff' "$scratch/out"; then
    tap_ok "lesson 7: the guest prints the e820 map of 128M, the cmdline and no initrd; status 0"
else
    not_ok "lesson 7: the guest prints the e820 map of 128M, the cmdline and no initrd (status $status)"
    diff "$scratch/expected" "$scratch/got" | sed 's/^/# diff: /'
fi

# With an initrd: its size and a page-aligned address inside RAM; the map follows --memory.
printf 'lesson 7 initrd: 37 bytes of nothing\n' >"$scratch/l7-initrd"   # 0x25 bytes
run_berth vm run --kernel "$bootparams" --memory 64M --initrd "$scratch/l7-initrd" \
    --trace "$scratch/l7-trace.json" --trace-exits
initrd_addr=$(sed -n 's/^initrd: addr=\(0x[0-9a-f]*\) size=0x0000000000000025$/\1/p' "$scratch/out")
if [[ $status -eq 0 && -n $initrd_addr ]] && (( initrd_addr % 4096 == 0 && initrd_addr + 0x25 <= 64 << 20 )) &&
   grep -qx '  e820\[3\] addr=0x0000000000100000 size=0x0000000003f00000 type=1 (usable RAM)' "$scratch/out"; then
    tap_ok "lesson 7: --initrd shows up as ramdisk_image/ramdisk_size ($initrd_addr, 37 bytes)"
else
    not_ok "lesson 7: --initrd shows up as ramdisk_image/ramdisk_size (status $status, addr '$initrd_addr')"
fi
# The Linux machine's trace: valid JSON, one X event per exit counted by --trace-exits,
# the vCPU's row named, the debug-exit write last.
total=$(awk '/^VM exits:/ { print $3 }' "$scratch/err")
if [[ $status -eq 0 ]] && python3 - "$scratch/l7-trace.json" "$total" <<'PY'
import json, sys
events = json.load(open(sys.argv[1]))["traceEvents"]
exits = [e for e in events if e.get("ph") == "X"]
assert len(exits) == int(sys.argv[2]) > 0, (len(exits), sys.argv[2])
assert all(e["tid"] == 0 and e["dur"] >= 0 for e in exits)
assert exits[-1]["name"] == "IO out 0x501", exits[-1]
assert any(e["name"] == "IO out 0x3f8" for e in exits)
assert any(e["ph"] == "M" and e["args"]["name"] == "vCPU 0" for e in events)
PY
then
    tap_ok "lesson 7 with --trace: the Linux machine's trace has one event per exit ($total)"
else
    not_ok "lesson 7 with --trace: the Linux machine's trace has one event per exit (status $status, total $total)"
fi

run_berth lesson 7
if [[ $status -eq 0 ]] && grep -qx 'cmdline: "console=ttyS0 [^"]* berth_lesson=7"' "$scratch/out" &&
   grep -qx 'e820 entries: 4' "$scratch/out"; then
    tap_ok "berth lesson 7 boots bootparams.bin through the Linux loader"
else
    not_ok "berth lesson 7 boots bootparams.bin through the Linux loader (status $status)"
fi
