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
