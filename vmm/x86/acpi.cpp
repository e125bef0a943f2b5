#include "vmm/x86/acpi.hpp"

#include "vmm/memory/platform_layout.hpp"
#include "vmm/x86/aml.hpp"

#include <cstring>
#include <numeric>
#include <string_view>

namespace berth::x86 {

namespace {

constexpr std::size_t checksum_offset = 9;
constexpr std::size_t length_offset = 4;

// Little-endian appends to a growing table.
class TableWriter {
public:
    std::vector<std::uint8_t>& bytes() { return bytes_; }
    std::size_t size() const { return bytes_.size(); }

    void u8(std::uint8_t v) { bytes_.push_back(v); }
    void u16(std::uint16_t v) { put(v, 2); }
    void u32(std::uint32_t v) { put(v, 4); }
    void u64(std::uint64_t v) { put(v, 8); }
    void text(std::string_view s, std::size_t width) {
        for (std::size_t i = 0; i < width; ++i) {
            u8(i < s.size() ? static_cast<std::uint8_t>(s[i]) : ' ');
        }
    }
    void zeros(std::size_t n) { bytes_.insert(bytes_.end(), n, 0); }
    void put_at(std::size_t offset, std::uint64_t v, std::size_t width) {
        for (std::size_t i = 0; i < width; ++i) {
            bytes_[offset + i] = static_cast<std::uint8_t>(v >> (8 * i));
        }
    }

    // The standard system description table header; length and checksum come later.
    void header(std::string_view signature, std::uint8_t revision) {
        text(signature, 4);
        u32(0);  // length
        u8(revision);
        u8(0);  // checksum
        text("BERTH", 6);
        text("BERTHVM", 8);
        u32(1);  // OEM revision
        text("BRTH", 4);
        u32(1);  // creator revision
    }
    // Port I/O Generic Address Structure for one byte-wide register.
    // A Generic Address Structure for an I/O port register of `bits` (8 or 32).
    void io_register(std::uint16_t port, std::uint8_t bits = 8) {
        u8(1);                   // system I/O space
        u8(bits);                // bit width
        u8(0);                   // bit offset
        u8(bits == 32 ? 3 : 1);  // access size: dword or byte
        u64(port);
    }
    std::vector<std::uint8_t> finish_table() {
        put_at(length_offset, bytes_.size(), 4);
        bytes_[checksum_offset] = acpi_checksum(bytes_);
        return std::move(bytes_);
    }

private:
    void put(std::uint64_t v, std::size_t width) {
        for (std::size_t i = 0; i < width; ++i) {
            u8(static_cast<std::uint8_t>(v >> (8 * i)));
        }
    }
    std::vector<std::uint8_t> bytes_;
};

// COM1 as an ACPI device (PNP0501 with its port range and IRQ 4). A hardware-reduced
// platform has no legacy PIC, so Linux maps no ISA IRQ on its own: without this
// description the 8250 driver cannot get IRQ 4, and only the kernel's polled console
// output gets out while user space writes go nowhere. With it, the kernel's 8250_pnp
// driver registers GSI 4 (edge, active high) for the port.
aml::Bytes com1_device() {
    aml::Bytes resources = aml::io_port(layout::com1_port, 8);
    aml::append(resources, aml::irq_no_flags(layout::com1_irq));
    aml::append(resources, aml::end_tag());
    aml::Bytes body = aml::name("_HID", aml::eisa_id("PNP0501"));  // 16550A-compatible UART
    aml::append(body, aml::name("_UID", aml::integer(1)));
    aml::append(body, aml::name("_CRS", aml::buffer(resources)));
    return aml::device("COM1", body);
}

// PCI bus 0 as an ACPI host bridge (PNP0A03). When ACPI routes interrupts, Linux scans
// PCI only below the host bridges the DSDT names (it skips the legacy probe of bus 0),
// and it gives BARs only addresses inside the bridge's windows (_CRS): bus 0, the
// configuration ports, all other I/O ports, and the memory window berth assigns BARs
// from. Devices interrupt through MSI-X, so no _PRT (INTx routing) is given.
aml::Bytes pci_host_bridge(const PciHostBridge& bridge) {
    aml::Bytes resources = aml::bus_number_range(0, 0);
    constexpr std::uint16_t config_end = layout::pci_config_port + 8;
    aml::append(resources, aml::io_port(layout::pci_config_port, 8));
    aml::append(resources, aml::io_range(0x0000, layout::pci_config_port - 1));
    aml::append(resources, aml::io_range(config_end, 0xffff));
    aml::append(resources, aml::memory_range(static_cast<std::uint32_t>(bridge.window_base),
                                             static_cast<std::uint32_t>(bridge.window_base +
                                                                        bridge.window_size - 1)));
    aml::append(resources, aml::end_tag());
    aml::Bytes body = aml::name("_HID", aml::eisa_id("PNP0A03"));
    aml::append(body, aml::name("_UID", aml::integer(0)));
    aml::append(body, aml::name("_SEG", aml::integer(0)));
    aml::append(body, aml::name("_BBN", aml::integer(0)));
    aml::append(body, aml::name("_CRS", aml::buffer(resources)));
    return aml::device("PCI0", body);
}

// The power button and the Generic Event Device that presses it. The GED's _CRS
// names its one interrupt; on it, Linux's GED driver runs _EVT (with the GSI as
// argument, ignored: there is one event), which sends the button notification 0x80.
aml::Bytes power_button_devices(std::uint32_t gsi) {
    aml::Bytes button = aml::name("_HID", aml::eisa_id("PNP0C0C"));
    aml::Bytes resources = aml::edge_interrupt(gsi);
    aml::append(resources, aml::end_tag());
    aml::Bytes ged = aml::name("_HID", aml::string("ACPI0013"));
    aml::append(ged, aml::name("_CRS", aml::buffer(resources)));
    aml::append(ged, aml::method("_EVT", 1, aml::notify(aml::name_path("\\_SB_.PWRB"), 0x80)));
    aml::Bytes out = aml::device("PWRB", button);
    aml::append(out, aml::device("GED0", ged));
    return out;
}

std::vector<std::uint8_t> build_dsdt(const std::optional<PciHostBridge>& pci,
                                     std::optional<std::uint32_t> power_button_gsi) {
    TableWriter t;
    t.header("DSDT", 2);
    // Name (_S5_, Package () { SLP_TYPa, SLP_TYPb, reserved, reserved }): soft-off.
    aml::append(t.bytes(),
                aml::name("_S5_", aml::package({acpi_s5_sleep_type, acpi_s5_sleep_type, 0, 0})));
    aml::Bytes devices = com1_device();
    if (pci) {
        aml::append(devices, pci_host_bridge(*pci));
    }
    if (power_button_gsi) {
        aml::append(devices, power_button_devices(*power_button_gsi));
    }
    aml::append(t.bytes(), aml::scope("_SB_", devices));
    return t.finish_table();
}

std::vector<std::uint8_t> build_fadt(std::uint64_t dsdt, std::optional<std::uint16_t> pm_timer) {
    constexpr std::uint32_t flag_hw_reduced_acpi = 1U << 20;
    constexpr std::uint16_t boot_arch_vga_not_present = 1U << 2;
    constexpr std::uint16_t boot_arch_no_cmos_rtc = 1U << 5;
    TableWriter t;
    t.header("FACP", 6);
    t.u32(0);                                 // 36 FIRMWARE_CTRL: no FACS
    t.u32(static_cast<std::uint32_t>(dsdt));  // 40 DSDT
    t.u8(0);                                  // 44 reserved
    t.u8(0);                                  // 45 preferred PM profile: unspecified
    // 46..108: SCI, SMI, legacy PM blocks: none, but for the PM timer when asked.
    t.zeros(76 - 46);
    t.u32(pm_timer.value_or(0));  // 76 PM_TMR_BLK
    t.zeros(91 - 80);
    t.u8(pm_timer ? 4 : 0);  // 91 PM_TMR_LEN
    t.zeros(109 - 92);
    // 109 IA-PC boot architecture flags: no 8042 bit (so Linux does not probe one),
    // no VGA, no CMOS RTC (kvm-clock gives the wall clock).
    t.u16(boot_arch_vga_not_present | boot_arch_no_cmos_rtc);
    t.u8(0);                      // 111 reserved
    t.u32(flag_hw_reduced_acpi);  // 112 flags
    t.zeros(12);                  // 116 RESET_REG: none (reboot goes through the i8042)
    t.u8(0);                      // 128 RESET_VALUE
    t.u16(0);                     // 129 ARM boot architecture
    t.u8(0);                      // 131 FADT minor version
    t.u64(0);                     // 132 X_FIRMWARE_CTRL
    t.u64(dsdt);                  // 140 X_DSDT
    t.zeros(208 - 148);           // 148..207: X_PM1a_EVT_BLK .. X_PM2_CNT_BLK: none
    if (pm_timer) {
        t.io_register(*pm_timer, 32);  // 208 X_PM_TMR_BLK
    } else {
        t.zeros(12);
    }
    t.zeros(244 - 220);                              // 220..243: X_GPE0_BLK, X_GPE1_BLK: none
    t.io_register(layout::acpi_sleep_control_port);  // 244 SLEEP_CONTROL_REG
    t.io_register(layout::acpi_sleep_status_port);   // 256 SLEEP_STATUS_REG
    t.text("BERTH", 8);                              // 268 hypervisor vendor identity
    return t.finish_table();
}

std::vector<std::uint8_t> build_madt(std::uint32_t cpu_count) {
    TableWriter t;
    t.header("APIC", 5);
    t.u32(static_cast<std::uint32_t>(layout::lapic_address));
    t.u32(0);  // flags: no PC-AT dual 8259 (hardware-reduced)
    for (std::uint32_t cpu = 0; cpu < cpu_count; ++cpu) {
        t.u8(0);  // processor local APIC
        t.u8(8);
        t.u8(static_cast<std::uint8_t>(cpu));  // ACPI processor UID
        t.u8(static_cast<std::uint8_t>(cpu));  // APIC ID
        t.u32(1);                              // enabled
    }
    t.u8(1);  // I/O APIC
    t.u8(12);
    t.u8(0);  // I/O APIC ID (KVM's reads as 0)
    t.u8(0);
    t.u32(static_cast<std::uint32_t>(layout::ioapic_address));
    t.u32(0);  // global system interrupt base
    // Interrupt source overrides for the ISA IRQs berth's devices use (COM1 on 4):
    // a hardware-reduced platform has no legacy PIC, so Linux only maps the ISA IRQs
    // the MADT names. Bus ISA, GSI = IRQ, active high, edge triggered.
    for (std::uint8_t irq : {std::uint8_t{3}, std::uint8_t{4}}) {
        t.u8(2);
        t.u8(10);
        t.u8(0);
        t.u8(irq);
        t.u32(irq);
        t.u16(0x5);
    }
    t.u8(4);  // local APIC NMI: all processors, LINT1
    t.u8(6);
    t.u8(0xff);
    t.u16(0);
    t.u8(1);
    return t.finish_table();
}

}  // namespace

std::uint8_t acpi_checksum(std::span<const std::uint8_t> bytes) {
    const unsigned sum = std::accumulate(bytes.begin(), bytes.end(), 0U);
    return static_cast<std::uint8_t>(0x100 - (sum & 0xff));
}

AcpiTables build_acpi_tables(std::uint64_t base, std::uint32_t cpu_count,
                             const AcpiDevices& devices) {
    AcpiTables tables{};
    auto& out = tables.bytes;
    auto append = [&](const std::vector<std::uint8_t>& table) {
        out.resize((out.size() + 15) & ~std::size_t{15}, 0);
        const std::uint64_t address = base + out.size();
        out.insert(out.end(), table.begin(), table.end());
        return address;
    };
    constexpr std::size_t rsdp_size = 36;
    out.resize(rsdp_size, 0);  // filled in last, it points at the XSDT
    tables.rsdp_address = base;
    tables.dsdt_address = append(build_dsdt(devices.pci, devices.power_button_gsi));
    tables.fadt_address = append(build_fadt(tables.dsdt_address, devices.pm_timer_port));
    tables.madt_address = append(build_madt(cpu_count));
    TableWriter xsdt;
    xsdt.header("XSDT", 1);
    xsdt.u64(tables.fadt_address);
    xsdt.u64(tables.madt_address);
    tables.xsdt_address = append(xsdt.finish_table());

    TableWriter rsdp;
    rsdp.text("RSD PTR ", 8);
    rsdp.u8(0);  // checksum of the first 20 bytes
    rsdp.text("BERTH", 6);
    rsdp.u8(2);   // revision: ACPI 2.0+, has an XSDT
    rsdp.u32(0);  // no RSDT
    rsdp.u32(rsdp_size);
    rsdp.u64(tables.xsdt_address);
    rsdp.u8(0);  // extended checksum
    rsdp.zeros(3);
    auto& r = rsdp.bytes();
    r[8] = acpi_checksum(std::span(r).first(20));
    r[32] = acpi_checksum(r);
    std::copy(r.begin(), r.end(), out.begin());
    return tables;
}

}  // namespace berth::x86
