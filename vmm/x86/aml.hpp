#pragma once
// A few ACPI Machine Language (AML) encodings, enough to write berth's DSDT by name
// instead of by hand-counted bytes (ACPI 6.x spec, chapter 20 "AML Specification" and
// 6.4 "Resource Data Types"). Each function returns the encoded term; terms nest by
// passing one's bytes as another's body.

#include <cstdint>
#include <string_view>
#include <vector>

namespace berth::x86::aml {

using Bytes = std::vector<std::uint8_t>;

// PkgLength for a body of `body_size` bytes: the encoded length counts itself, so it
// takes 1 byte up to 63 and 2-4 bytes beyond (low nibble first, then whole bytes).
Bytes pkg_length(std::size_t body_size);
// An integer constant in the smallest encoding (ZeroOp, OneOp, Byte/Word/DWord/QWordPrefix).
Bytes integer(std::uint64_t value);
// EisaId("PNP0A03"): three letters compressed into 15 bits, then four hex digits.
Bytes eisa_id(std::string_view id);
// Name (SEG, value); `seg` is a four-character name such as "_HID".
Bytes name(std::string_view seg, const Bytes& value);
// A string constant, "ACPI0013" (for _HIDs that are not EISA IDs).
Bytes string(std::string_view text);
// A name path: one segment ("PWRB", found by the search rules) or an absolute path
// of segments ("\\_SB_.PWRB").
Bytes name_path(std::string_view path);
// Method (SEG, argument_count, NotSerialized) { body }.
Bytes method(std::string_view seg, unsigned argument_count, const Bytes& body);
// Notify (target, value): `target` a name_path.
Bytes notify(const Bytes& target, std::uint64_t value);
// Buffer () { bytes }.
Bytes buffer(const Bytes& bytes);
// Device (SEG) { body } and Scope (PATH) { body }; PATH such as "_SB_" (one segment).
Bytes device(std::string_view seg, const Bytes& body);
Bytes scope(std::string_view seg, const Bytes& body);
// Name (SEG, Package () { elements... }) with integer elements.
Bytes package(const std::vector<std::uint64_t>& elements);

// Resource descriptors for a ResourceTemplate (concatenate, then end_tag()).
Bytes io_port(std::uint16_t base, std::uint8_t length);  // IO (Decode16, base, base, 1, length)
Bytes irq_no_flags(unsigned irq);                        // IRQNoFlags () {irq}
// Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) {gsi}: any GSI, not only ISA.
Bytes edge_interrupt(std::uint32_t gsi);
Bytes bus_number_range(std::uint16_t first, std::uint16_t last);  // WordBusNumber, producer
Bytes io_range(std::uint16_t first, std::uint16_t last);          // WordIO, producer
Bytes memory_range(std::uint32_t first,
                   std::uint32_t last);  // DWordMemory, producer, non-cacheable
Bytes end_tag();

// Appends `tail` to `head`.
void append(Bytes& head, const Bytes& tail);

}  // namespace berth::x86::aml
