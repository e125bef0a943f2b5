# Multiboot kernels (vmm/boot/multiboot.hpp) with a real guest: multiboot-info
# (guest-firmware/multiboot-info/) prints what berth handed it and ends through QEMU's
# debug-exit port with 0x21, status (0x21 << 1) | 1 = 67. No Linux: each boot is a
# fraction of a second. Sourced by kvm-tests.sh: uses its not_ok, run_berth, $scratch
# and $BERTH_FIRMWARE_DIR.

# expect_multiboot_info NAME KERNEL MEMORY_MIB CPUS CMDLINE_TAIL MODULE_LINES ARGS...:
# boots KERNEL with --memory MEMORY_MIB M, --cpus CPUS and ARGS, and compares every line
# it prints.
expect_multiboot_info() {
    local name=$1 kernel=$2 mib=$3 cpus=$4 cmdline=$5 modules=$6
    shift 6
    {
        printf 'magic 0x2badb002\ncr0.pe 1\ncr0.pg 0\neflags.if 0\ncs 0x10\nds 0x18\n'
        # mem, cmdline, mmap and loader name; with modules, bit 3 too.
        printf 'flags %s\n' "$([[ -n $modules ]] && echo 0x24d || echo 0x245)"
        printf 'mem_lower 639\nmem_upper %d\n' $(((mib - 1) * 1024))
        printf 'cmdline %s%s\nloader berth\n' "$kernel" "$cmdline"
        # The usable RAM adds up to --memory less the EBDA and the BIOS area.
        printf 'mmap 0x0 0x9fc00 1\nmmap 0x9fc00 0x400 2\nmmap 0xe0000 0x20000 2\n'
        printf 'mmap 0x100000 0x%x 1\n' $(((mib - 1) << 20))
        [[ -n $modules ]] && printf '%s\n' "$modules"
        # The kernel finds the RSDP in the BIOS area and counts the MADT's CPUs.
        printf 'acpi rsdp 0xe0000 madt cpus %d\n' "$cpus"
        # ... and the FADT's PM timer, which counts.
        printf 'acpi pm-timer 0x608 advances\ndone\n'
    } >"$scratch/expected"
    run_berth vm run --kernel "$kernel" --memory "${mib}M" --cpus "$cpus" --debug-exit 0xf4 "$@"
    if [[ $status -eq 67 ]] && cmp -s "$scratch/out" "$scratch/expected"; then
        tap_ok "$name"
    else
        not_ok "$name (status $status)"
        diff "$scratch/expected" "$scratch/out" | sed 's/^/# diff: /'
    fi
}

# module_line INDEX FILE STRING: what the kernel prints for a module: its size, whether
# it starts on a page, the sum of its bytes and its string.
module_line() {
    local sum
    sum=$(od -An -tu1 -v "$2" | awk '{ for (i = 1; i <= NF; i++) s += $i } END { print s + 0 }')
    printf 'module %d size %d page-aligned 1 sum %d string %s' "$1" "$(stat -c %s "$2")" "$sum" "$3"
}

head -c 5000 /dev/urandom >"$scratch/initrd.img"
printf 'the second module\n' >"$scratch/data.bin"
modules="$(module_line 0 "$scratch/initrd.img" "$scratch/initrd.img")
$(module_line 1 "$scratch/data.bin" "$scratch/data.bin answer=42, more")"
expect_multiboot_info "multiboot ELF32: machine state, memory map of --memory 40M, cmdline, initrd and --module with their bytes and strings, 3 CPUs in the MADT" \
    "$BERTH_FIRMWARE_DIR/multiboot-info-elf32.elf" 40 3 " hello=world two" "$modules" \
    --cmdline "hello=world two" --initrd "$scratch/initrd.img" \
    --module "$scratch/data.bin,answer=42, more"
expect_multiboot_info "multiboot ELF64: the same kernel in an ELF64 file, --memory 24M" \
    "$BERTH_FIRMWARE_DIR/multiboot-info-elf64.elf" 24 1 "" ""
expect_multiboot_info "multiboot address fields: a flat binary whose header says where it goes" \
    "$BERTH_FIRMWARE_DIR/multiboot-info-flat.bin" 16 1 " flat" "" --cmdline flat

# --- lesson 8: a kernel in C brings up its CPUs --------------------------------------
# lesson8_expected CPUS: the whole trace of `berth lesson 8 --cpus CPUS` (the kernel's
# path on the command line shown as LESSON8).
lesson8_expected() {
    printf 'Lesson 8: a kernel in C\nBooted by berth\nCommand line: LESSON8 berth_lesson=8\n'
    printf 'GDT and IDT loaded; a breakpoint to prove the IDT works:\n'
    printf 'CPU 0: breakpoint (int3) handled\n'
    printf 'fw_cfg: %d CPUs, 256 MiB of RAM\n' "$1"
    printf 'Hello from CPU 0 (the bootstrap processor)\n'
    for ((cpu = 1; cpu < $1; cpu++)); do
        printf 'Hello from CPU %d\n' "$cpu"
    done
    printf 'Goodbye\n'
}
for cpus in 1 4; do
    lesson8_expected "$cpus" >"$scratch/expected"
    run_berth lesson 8 --cpus "$cpus"
    sed -i 's|^Command line: .*/lesson8\.elf |Command line: LESSON8 |' "$scratch/out"
    if [[ $status -eq 0 ]] && cmp -s "$scratch/out" "$scratch/expected"; then
        tap_ok "lesson 8 with $cpus CPU(s): its own GDT/IDT, fw_cfg, and every CPU says hello"
    else
        not_ok "lesson 8 with $cpus CPU(s): its own GDT/IDT, fw_cfg, and every CPU says hello (status $status)"
        diff "$scratch/expected" "$scratch/out" | sed 's/^/# diff: /'
    fi
done
