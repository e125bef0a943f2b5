#include "x86/acpi.hpp"

#include <cstring>
#include <numeric>
#include <string_view>

namespace berth::x86 {

namespace {

constexpr std::size_t header_size = 36;
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
    void io_register(std::uint16_t port) {
        u8(1);  // system I/O space
        u8(8);  // bit width
        u8(0);  // bit offset
        u8(1);  // access size: byte
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

// AML for COM1 as an ACPI device:
//   Scope (\_SB) { Device (COM1) {
//     Name (_HID, EisaId ("PNP0501"))   // 16550A-compatible UART
//     Name (_UID, 1)
//     Name (_CRS, ResourceTemplate () { IO (Decode16, 0x3F8, 0x3F8, 0, 8) IRQNoFlags () {4} })
//   } }
// A hardware-reduced platform has no legacy PIC, so Linux maps no ISA IRQ on its own:
// without this description the 8250 driver cannot get IRQ 4, and only the kernel's
// polled console output gets out while user space writes go nowhere. With it, the
// kernel's 8250_pnp driver registers GSI 4 (edge, active high) for the port.
std::vector<std::uint8_t> com1_device_aml() {
    const std::uint8_t resources[] = {
        0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x00, 0x08,  // IO: decode16, min, max, align, length
        0x22, 0x10, 0x00,                                // IRQ mask: bit 4
        0x79, 0x00,                                      // end tag
    };
    std::vector<std::uint8_t> body = {
        0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x05, 0x01,  // EisaId("PNP0501")
        0x08, '_', 'U', 'I', 'D', 0x01,                          // OneOp
        0x08, '_', 'C', 'R', 'S', 0x11,                          // NameOp, BufferOp
        static_cast<std::uint8_t>(1 + 2 + sizeof(resources)),   // PkgLength
        0x0a, static_cast<std::uint8_t>(sizeof(resources)),     // BytePrefix size
    };
    body.insert(body.end(), std::begin(resources), std::end(resources));
    // Every PkgLength here fits one byte (< 64), which keeps the encoding simple.
    std::vector<std::uint8_t> device = {0x5b, 0x82, static_cast<std::uint8_t>(1 + 4 + body.size()),
                                        'C', 'O', 'M', '1'};
    device.insert(device.end(), body.begin(), body.end());
    std::vector<std::uint8_t> scope = {0x10, static_cast<std::uint8_t>(1 + 4 + device.size()),
                                       '_', 'S', 'B', '_'};
    scope.insert(scope.end(), device.begin(), device.end());
    return scope;
}

std::vector<std::uint8_t> build_dsdt() {
    TableWriter t;
    t.header("DSDT", 2);
    // AML: Name (_S5_, Package (4) { 5, 5, 0, 0 })
    const std::uint8_t aml[] = {
        0x08, '_', 'S', '5', '_',  // NameOp "_S5_"
        0x12, 0x08, 0x04,          // PackageOp, PkgLength 8, 4 elements
        0x0a, acpi_s5_sleep_type,  // BytePrefix SLP_TYPa
        0x0a, acpi_s5_sleep_type,  // BytePrefix SLP_TYPb
        0x00, 0x00,                // ZeroOp, ZeroOp (reserved)
    };
    t.bytes().insert(t.bytes().end(), std::begin(aml), std::end(aml));
    const auto com1 = com1_device_aml();
    t.bytes().insert(t.bytes().end(), com1.begin(), com1.end());
    return t.finish_table();
}

std::vector<std::uint8_t> build_fadt(std::uint64_t dsdt) {
    constexpr std::uint32_t flag_hw_reduced_acpi = 1U << 20;
    constexpr std::uint16_t boot_arch_vga_not_present = 1U << 2;
    constexpr std::uint16_t boot_arch_no_cmos_rtc = 1U << 5;
    TableWriter t;
    t.header("FACP", 6);
    t.u32(0);                                 // 36 FIRMWARE_CTRL: no FACS
    t.u32(static_cast<std::uint32_t>(dsdt));  // 40 DSDT
    t.u8(0);                                  // 44 reserved
    t.u8(0);                                  // 45 preferred PM profile: unspecified
    t.zeros(109 - 46);                        // 46..108: SCI, SMI, legacy PM blocks: none
    // 109 IA-PC boot architecture flags: no 8042 bit (so Linux does not probe one),
    // no VGA, no CMOS RTC (kvm-clock gives the wall clock).
    t.u16(boot_arch_vga_not_present | boot_arch_no_cmos_rtc);
    t.u8(0);                     // 111 reserved
    t.u32(flag_hw_reduced_acpi); // 112 flags
    t.zeros(12);                 // 116 RESET_REG: none (reboot goes through the i8042)
    t.u8(0);                     // 128 RESET_VALUE
    t.u16(0);                    // 129 ARM boot architecture
    t.u8(0);                     // 131 FADT minor version
    t.u64(0);                    // 132 X_FIRMWARE_CTRL
    t.u64(dsdt);                 // 140 X_DSDT
    t.zeros(244 - 148);          // 148..243: X_PM1a_EVT_BLK .. X_GPE1_BLK: none
    t.io_register(acpi_sleep_control_port);  // 244 SLEEP_CONTROL_REG
    t.io_register(acpi_sleep_status_port);   // 256 SLEEP_STATUS_REG
    t.text("BERTH", 8);                      // 268 hypervisor vendor identity
    return t.finish_table();
}

std::vector<std::uint8_t> build_madt(std::uint32_t cpu_count) {
    TableWriter t;
    t.header("APIC", 5);
    t.u32(static_cast<std::uint32_t>(lapic_address));
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
    t.u32(static_cast<std::uint32_t>(ioapic_address));
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
    t.u8(4);   // local APIC NMI: all processors, LINT1
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

AcpiTables build_acpi_tables(std::uint64_t base, std::uint32_t cpu_count) {
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
    tables.dsdt_address = append(build_dsdt());
    tables.fadt_address = append(build_fadt(tables.dsdt_address));
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
