#pragma once
// The virtio-pci devices a Linux guest is given, as a list of specs. Each device kind
// (virtio-blk, virtio-rng, ...) is a VirtioDeviceSpec made from its command-line flag;
// the PCI device set (pci_devices.hpp) is built from the list without knowing the
// kinds. A spec opens what its device needs on the host (an image file; for a network
// device, a tap fd or a user-space backend) before /dev/kvm is opened, so that bad
// input fails first and the same way on every host, and then makes the device model.
//
// The kinds and their flags are registered in one place: virtio_device_flags.cpp.

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "devices/virtio/blk.hpp"
#include "devices/virtio/device.hpp"
#include "vmm/net/ipv4.hpp"
#include "vmm/net/port_forward.hpp"

namespace berth::machine {

// How a snapshot names a device so that a restore opens the same one again: the value
// of its flag (what `berth vm run --disk` would take), and the files it must find with
// the size they had (disk images).
struct SnapshotRecord {
    std::string value;
    std::vector<std::filesystem::path> files;
};

class VirtioDeviceSpec {
public:
    virtual ~VirtioDeviceSpec() = default;
    // The kind ("disk"). Devices are numbered within their kind, in list order: disk 0
    // is the guest's vda.
    virtual std::string_view kind() const = 0;
    // Opens and checks the host side (bad input throws) and makes device number `index`
    // of its kind. Called once per boot, before KVM is opened.
    virtual std::shared_ptr<devices::virtio::Device> open(unsigned index) const = 0;
    // For a snapshot; throws a bad-input Error for a device whose host side a snapshot
    // cannot keep (a NIC: its tap or user-mode stack lives outside the guest).
    virtual SnapshotRecord snapshot_record() const = 0;
};

// In PCI slot order. Shared and immutable: a reboot (--reboot restart) opens them again.
using VirtioDeviceSpecs = std::vector<std::shared_ptr<const VirtioDeviceSpec>>;

// The `berth vm run` flag that adds devices of one kind.
struct VirtioDeviceFlag {
    std::string_view name;  // "--disk"
    std::string_view help;
    // What the flag takes ("PATH[,ro]"; then it may repeat, one device each), or empty
    // for a flag without a value that adds one device however often it is given (--rng).
    std::string_view value_name;
    // The spec for one use of the flag (`value` is empty for a flag without one), or
    // null when that use adds no device (--net none); bad input throws.
    std::shared_ptr<const VirtioDeviceSpec> (*make)(const std::string& value);
};

// Every kind's flag, in the order their devices take PCI slots.
std::span<const VirtioDeviceFlag> virtio_device_flags();

// The spec a snapshot recorded as `kind` with flag value `value` (snapshot_record()),
// through the kind's flag; bad input throws.
std::shared_ptr<const VirtioDeviceSpec> spec_from_snapshot(const std::string& kind,
                                                           const std::string& value);

// A virtio-blk disk on `disk` (--image makes its image the first disk this way).
std::shared_ptr<const VirtioDeviceSpec> virtio_disk(const devices::virtio::DiskSpec& disk);

// Publishes `forwards` through the first NIC in `devices` with user-mode networking
// (virtio_net_spec.cpp); false when there is no such NIC (and forwards to publish).
bool add_port_forwards(VirtioDeviceSpecs& devices, const std::vector<net::PortForward>& forwards);

// Pins the address of the first NIC in `devices` on a bridge (--ip); false when there is
// no such NIC. Bad input (checked when the NIC is opened) when the address is not one of
// the bridge network's host addresses, or that NIC's ip= gives one already.
bool add_bridge_address(VirtioDeviceSpecs& devices, const net::Ipv4Cidr& address);

}  // namespace berth::machine
