#include "vmm/x86/aml.hpp"

#include <cassert>
#include <stdexcept>

namespace berth::x86::aml {

namespace {

constexpr std::uint8_t zero_op = 0x00;
constexpr std::uint8_t one_op = 0x01;
constexpr std::uint8_t name_op = 0x08;
constexpr std::uint8_t byte_prefix = 0x0a;
constexpr std::uint8_t word_prefix = 0x0b;
constexpr std::uint8_t dword_prefix = 0x0c;
constexpr std::uint8_t qword_prefix = 0x0e;
constexpr std::uint8_t scope_op = 0x10;
constexpr std::uint8_t buffer_op = 0x11;
constexpr std::uint8_t package_op = 0x12;
constexpr std::uint8_t string_prefix = 0x0d;
constexpr std::uint8_t method_op = 0x14;
constexpr std::uint8_t root_char = 0x5c;
constexpr std::uint8_t dual_name_prefix = 0x2e;
constexpr std::uint8_t multi_name_prefix = 0x2f;
constexpr std::uint8_t notify_op = 0x86;
constexpr std::uint8_t ext_op_prefix = 0x5b;
constexpr std::uint8_t device_op = 0x82;

// Address space descriptor fields (ACPI 6.4.3.5): resource types and general flags.
constexpr std::uint8_t resource_memory = 0;
constexpr std::uint8_t resource_io = 1;
constexpr std::uint8_t resource_bus = 2;
// Producer (bit 0 clear), positive decode, min and max fixed: a bridge's window.
constexpr std::uint8_t window_flags = 0x0c;

void little_endian(Bytes& out, std::uint64_t value, unsigned width) {
    for (unsigned i = 0; i < width; ++i) {
        out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
    }
}

void name_seg(Bytes& out, std::string_view seg) {
    if (seg.size() != 4) {
        throw std::logic_error("AML name segments are four characters");
    }
    out.insert(out.end(), seg.begin(), seg.end());
}

// A bridge window as a Word (2-byte fields, tag 0x88) or DWord (4-byte, tag 0x87)
// Address Space Descriptor: header, then granularity, min, max, translation, length.
Bytes address_space_window(std::uint8_t type, std::uint8_t type_flags, unsigned width,
                           std::uint64_t first, std::uint64_t last) {
    const std::uint8_t tag = width == 2 ? 0x88 : 0x87;
    const auto length = static_cast<std::uint8_t>(3 + 5 * width);  // after the 3-byte header
    Bytes out{tag, length, 0, type, window_flags, type_flags};
    for (const std::uint64_t field :
         {std::uint64_t{0}, first, last, std::uint64_t{0}, last - first + 1}) {
        little_endian(out, field, width);
    }
    return out;
}

// OP PkgLength SEG body, the shape of Device and Scope.
Bytes named_block(std::initializer_list<std::uint8_t> op, std::string_view seg, const Bytes& body) {
    Bytes inner;
    name_seg(inner, seg);
    append(inner, body);
    Bytes out(op);
    append(out, pkg_length(inner.size()));
    append(out, inner);
    return out;
}

}  // namespace

void append(Bytes& head, const Bytes& tail) {
    head.insert(head.end(), tail.begin(), tail.end());
}

Bytes pkg_length(std::size_t body_size) {
    if (body_size + 1 < 64) {
        return {static_cast<std::uint8_t>(body_size + 1)};
    }
    for (unsigned extra = 1; extra <= 3; ++extra) {
        const std::size_t total = body_size + 1 + extra;
        if (total < (std::size_t{1} << (4 + 8 * extra))) {
            Bytes out{static_cast<std::uint8_t>((extra << 6) | (total & 0x0f))};
            little_endian(out, total >> 4, extra);
            return out;
        }
    }
    throw std::logic_error("AML package longer than 256 MiB");
}

Bytes integer(std::uint64_t value) {
    if (value == 0)
        return {zero_op};
    if (value == 1)
        return {one_op};
    Bytes out;
    unsigned width = 8;
    std::uint8_t prefix = qword_prefix;
    if (value <= 0xff) {
        width = 1, prefix = byte_prefix;
    } else if (value <= 0xffff) {
        width = 2, prefix = word_prefix;
    } else if (value <= 0xffffffff) {
        width = 4, prefix = dword_prefix;
    }
    out.push_back(prefix);
    little_endian(out, value, width);
    return out;
}

Bytes eisa_id(std::string_view id) {
    if (id.size() != 7) {
        throw std::logic_error("EISA IDs are three letters and four hex digits");
    }
    auto letter = [&](std::size_t i) { return static_cast<unsigned>(id[i] - '@') & 0x1f; };
    auto hex = [&](std::size_t i) {
        const char c = id[i];
        return static_cast<unsigned>(c <= '9' ? c - '0' : c - 'A' + 10);
    };
    const unsigned vendor = (letter(0) << 10) | (letter(1) << 5) | letter(2);
    return {dword_prefix, static_cast<std::uint8_t>(vendor >> 8),
            static_cast<std::uint8_t>(vendor & 0xff),
            static_cast<std::uint8_t>((hex(3) << 4) | hex(4)),
            static_cast<std::uint8_t>((hex(5) << 4) | hex(6))};
}

Bytes name(std::string_view seg, const Bytes& value) {
    Bytes out{name_op};
    name_seg(out, seg);
    append(out, value);
    return out;
}

Bytes string(std::string_view text) {
    Bytes out{string_prefix};
    out.insert(out.end(), text.begin(), text.end());
    out.push_back(0);
    return out;
}

Bytes name_path(std::string_view path) {
    Bytes out;
    if (!path.empty() && path.front() == '\\') {
        out.push_back(root_char);
        path.remove_prefix(1);
    }
    std::vector<std::string_view> segs;
    while (!path.empty()) {
        const std::size_t dot = path.find('.');
        segs.push_back(path.substr(0, dot));
        path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
    }
    if (segs.size() == 2) {
        out.push_back(dual_name_prefix);
    } else if (segs.size() > 2) {
        out.push_back(multi_name_prefix);
        out.push_back(static_cast<std::uint8_t>(segs.size()));
    }
    for (const std::string_view seg : segs) {
        name_seg(out, seg);
    }
    return out;
}

Bytes method(std::string_view seg, unsigned argument_count, const Bytes& body) {
    if (argument_count > 7) {
        throw std::logic_error("AML methods take at most seven arguments");
    }
    Bytes flags_and_body{static_cast<std::uint8_t>(argument_count)};  // NotSerialized, level 0
    append(flags_and_body, body);
    return named_block({method_op}, seg, flags_and_body);
}

Bytes notify(const Bytes& target, std::uint64_t value) {
    Bytes out{notify_op};
    append(out, target);
    append(out, integer(value));
    return out;
}

Bytes buffer(const Bytes& bytes) {
    Bytes inner = integer(bytes.size());
    append(inner, bytes);
    Bytes out{buffer_op};
    append(out, pkg_length(inner.size()));
    append(out, inner);
    return out;
}

Bytes device(std::string_view seg, const Bytes& body) {
    return named_block({ext_op_prefix, device_op}, seg, body);
}

Bytes scope(std::string_view seg, const Bytes& body) {
    return named_block({scope_op}, seg, body);
}

Bytes package(const std::vector<std::uint64_t>& elements) {
    assert(elements.size() < 256);
    Bytes inner{static_cast<std::uint8_t>(elements.size())};
    for (const auto element : elements) {
        append(inner, integer(element));
    }
    Bytes out{package_op};
    append(out, pkg_length(inner.size()));
    append(out, inner);
    return out;
}

Bytes io_port(std::uint16_t base, std::uint8_t length) {
    Bytes out{0x47, 0x01};  // small item "I/O port", 16-bit decode
    little_endian(out, base, 2);
    little_endian(out, base, 2);
    out.push_back(1);  // alignment
    out.push_back(length);
    return out;
}

Bytes irq_no_flags(unsigned irq) {
    assert(irq < 16);
    Bytes out{0x22};  // small item "IRQ", 2 bytes: the mask
    little_endian(out, 1U << irq, 2);
    return out;
}

Bytes edge_interrupt(std::uint32_t gsi) {
    // Large item "Extended Interrupt" (0x89): length 6, flags, one entry, the GSI.
    // Flags: consumer (bit 0), edge (bit 1); active high and exclusive are zeros.
    constexpr std::uint8_t consumer_edge_active_high = 0x03;
    Bytes out{0x89, 6, 0, consumer_edge_active_high, 1};
    little_endian(out, gsi, 4);
    return out;
}

Bytes bus_number_range(std::uint16_t first, std::uint16_t last) {
    return address_space_window(resource_bus, 0, 2, first, last);
}

Bytes io_range(std::uint16_t first, std::uint16_t last) {
    constexpr std::uint8_t entire_range = 3;  // the window passes both ISA and non-ISA ports
    return address_space_window(resource_io, entire_range, 2, first, last);
}

Bytes memory_range(std::uint32_t first, std::uint32_t last) {
    constexpr std::uint8_t read_write_non_cacheable = 1;
    return address_space_window(resource_memory, read_write_non_cacheable, 4, first, last);
}

Bytes end_tag() {
    return {0x79, 0x00};
}  // checksum 0: "the template is not checksummed"

}  // namespace berth::x86::aml
