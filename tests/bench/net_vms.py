"""What the network benchmarks (net.sh, net-exits.sh) share: the VMs they boot.

berth and QEMU (and a second berth, "base", when BERTH_BENCH_BASELINE gave one) boot the
same kernel and initramfs with 256 MiB, one vCPU and one virtio-net NIC over PCI on the
same backend, and the guest runs a shell script given on the kernel command line. The
paths come from net-setup.sh's BERTH_BENCH_* variables.
"""
import os

# The host as the guest reaches it: libslirp's gateway (the host's 127.0.0.1) in user
# mode, berth0's address on the bridge.
HOSTS = {"user": "10.0.2.2", "tap": "10.88.0.1", "vhost": "10.88.0.1"}
# QEMU's tap has no DHCP server behind it: its guest takes this address itself.
QEMU_TAP_ADDRESS = "10.88.254.2/16"

WORK = os.environ["BERTH_BENCH_WORK"]
KERNEL = os.environ["BERTH_BENCH_GUEST_KERNEL"]
INITRD = os.environ["BERTH_BENCH_GUEST_INITRD"]
BASE_CMDLINE = os.environ["BERTH_BENCH_BASE_CMDLINE"]
QEMU_TAP = os.environ["BERTH_BENCH_QEMU_TAP"]


def vmms():
    """The VMMs to compare: berth, QEMU, and base when there is one."""
    return ["berth", "qemu"] + (["base"] if os.path.exists(f"{WORK}/berth-base") else [])


def command(vmm, backend, script):
    """The command line that boots vmm on backend with the guest running script.

    script travels inside double quotes on the kernel command line: none in it.
    """
    if vmm in ("berth", "base"):
        net = {"user": "user", "tap": "bridge", "vhost": "bridge,vhost=on"}[backend]
        binary = f"{WORK}/berth" if vmm == "berth" else f"{WORK}/berth-base"
        return [binary, "vm", "run", "--kernel", KERNEL, "--initrd", INITRD,
                "--memory", "256M", "--cpus", "1", "--net", net,
                "--cmdline", f'quiet berth_run="{script}"']
    if backend == "user":
        netdev = "user,id=n0"
    else:
        netdev = f"tap,id=n0,ifname={QEMU_TAP},script=no,downscript=no"
        if backend == "vhost":
            netdev += ",vhost=on"
        script = (f"ip addr add {QEMU_TAP_ADDRESS} dev eth0; ip link set eth0 up; sleep 1; "
                  + script)
    return ["qemu-system-x86_64", "-M", "pc", "-accel", "kvm", "-cpu", "host", "-m", "256",
            "-smp", "1", "-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio",
            "-device", "isa-debug-exit,iobase=0x501,iosize=1",
            "-netdev", netdev, "-device", "virtio-net-pci,netdev=n0,disable-legacy=on",
            "-kernel", KERNEL, "-initrd", INITRD,
            "-append", f'{BASE_CMDLINE} quiet berth_run="{script}"']
