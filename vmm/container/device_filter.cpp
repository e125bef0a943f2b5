#include "vmm/container/device_filter.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"
#include "vmm/common/unique_fd.hpp"

namespace berth::container {

namespace {

// Registers the program uses (r1 holds the context when it starts, r0 the answer).
constexpr std::uint8_t answer = 0;
constexpr std::uint8_t context = 1;
constexpr std::uint8_t accesses = 2;  // BPF_DEVCG_ACC_* asked for
constexpr std::uint8_t type = 3;      // BPF_DEVCG_DEV_*
constexpr std::uint8_t major = 4;
constexpr std::uint8_t minor = 5;

bpf_insn instruction(std::uint8_t code, std::uint8_t dst, std::uint8_t src, std::int16_t off,
                     std::int32_t imm) {
    bpf_insn insn{};
    insn.code = code;
    insn.dst_reg = dst & 0xf;
    insn.src_reg = src & 0xf;
    insn.off = off;
    insn.imm = imm;
    return insn;
}

// dst = *(u32 *)(src + off)
bpf_insn load_word(std::uint8_t dst, std::uint8_t src, std::int16_t off) {
    return instruction(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0);
}
// dst = imm; dst OP= imm; dst = src
bpf_insn move(std::uint8_t dst, std::int32_t imm) {
    return instruction(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm);
}
bpf_insn alu(std::uint8_t op, std::uint8_t dst, std::int32_t imm) {
    return instruction(BPF_ALU64 | op | BPF_K, dst, 0, 0, imm);
}
bpf_insn copy(std::uint8_t dst, std::uint8_t src) {
    return instruction(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0);
}
bpf_insn exit_program() {
    return instruction(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

// Jumps go forward to labels whose place is known only once the code after them is
// written: each jump records its label, and finish() fills the offsets in.
class Assembler {
public:
    int new_label() {
        labels_.push_back(-1);
        return static_cast<int>(labels_.size()) - 1;
    }
    void place(int label) { labels_[static_cast<std::size_t>(label)] = size(); }
    void emit(const bpf_insn& insn) { code_.push_back(insn); }
    // if (dst OP imm) goto label; BPF_JA: always.
    void jump(std::uint8_t op, std::uint8_t dst, std::int32_t imm, int label) {
        fixups_.push_back({code_.size(), label});
        code_.push_back(instruction(BPF_JMP | op | BPF_K, dst, 0, 0, imm));
    }
    std::vector<bpf_insn> finish() {
        for (const auto& [at, label] : fixups_) {
            // The offset counts from the instruction after the jump.
            const long offset =
                labels_[static_cast<std::size_t>(label)] - static_cast<long>(at) - 1;
            if (offset > std::numeric_limits<std::int16_t>::max()) {
                throw bad_input(
                    "linux.resources.devices: too many rules for one device program (the jumps "
                    "over them exceed 32767 instructions)");
            }
            code_[at].off = static_cast<std::int16_t>(offset);
        }
        return std::move(code_);
    }

private:
    long size() const { return static_cast<long>(code_.size()); }
    struct Fixup {
        std::size_t at;
        int label;
    };
    std::vector<bpf_insn> code_;
    std::vector<long> labels_;
    std::vector<Fixup> fixups_;
};

std::int32_t device_number(std::int64_t number, const DeviceAccess& rule, const char* what) {
    if (number > std::numeric_limits<std::int32_t>::max()) {
        throw bad_input(fmt::format("{}: {} {} is above the largest device number (2147483647)",
                                    rule.shown_as, what, number));
    }
    return static_cast<std::int32_t>(number);
}

// The access letter's BPF_DEVCG_ACC_* bit.
constexpr struct {
    char letter;
    std::int32_t bit;
} access_bits[] = {
    {'m', BPF_DEVCG_ACC_MKNOD}, {'r', BPF_DEVCG_ACC_READ}, {'w', BPF_DEVCG_ACC_WRITE}};

void check_rule(const DeviceAccess& rule) {
    if (rule.type != 'a' && rule.type != 'b' && rule.type != 'c') {
        throw bad_input(fmt::format("{}: type {} is not a, b or c", rule.shown_as,
                                    quote(std::string(1, rule.type))));
    }
    for (const char letter : rule.access) {
        if (letter != 'r' && letter != 'w' && letter != 'm') {
            throw bad_input(fmt::format("{}: access {} is not made of r, w and m", rule.shown_as,
                                        quote(rule.access)));
        }
    }
}

long bpf(int command, bpf_attr& attr) {
    return ::syscall(SYS_bpf, command, &attr, sizeof attr);
}

// The verifier's last words (its log ends with the reason), on one line.
std::string verifier_reason(const std::vector<char>& log) {
    std::string text(log.data(), ::strnlen(log.data(), log.size()));
    while (!text.empty() && text.back() == '\n') {
        text.pop_back();
    }
    const auto line = text.rfind('\n');
    return line == std::string::npos ? text : text.substr(line + 1);
}

}  // namespace

std::vector<bpf_insn> device_filter_program(std::span<const DeviceAccess> rules) {
    for (const auto& rule : rules) {
        check_rule(rule);
    }
    Assembler code;
    code.emit(load_word(accesses, context, offsetof(bpf_cgroup_dev_ctx, access_type)));
    code.emit(copy(type, accesses));
    code.emit(alu(BPF_AND, type, 0xffff));
    code.emit(alu(BPF_RSH, accesses, 16));
    code.emit(load_word(major, context, offsetof(bpf_cgroup_dev_ctx, major)));
    code.emit(load_word(minor, context, offsetof(bpf_cgroup_dev_ctx, minor)));
    for (const auto& [letter, bit] : access_bits) {
        // Not asked for: nothing to decide for this access.
        const int decided = code.new_label();
        const int asked = code.new_label();
        code.jump(BPF_JSET, accesses, bit, asked);
        code.jump(BPF_JA, 0, 0, decided);
        code.place(asked);
        for (auto rule = rules.rbegin(); rule != rules.rend(); ++rule) {
            if (rule->access.find(letter) == std::string::npos) {
                continue;
            }
            const int next_rule = code.new_label();
            if (rule->type != 'a') {
                code.jump(BPF_JNE, type,
                          rule->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR, next_rule);
                if (rule->major >= 0) {
                    code.jump(BPF_JNE, major, device_number(rule->major, *rule, "major"),
                              next_rule);
                }
                if (rule->minor >= 0) {
                    code.jump(BPF_JNE, minor, device_number(rule->minor, *rule, "minor"),
                              next_rule);
                }
            }
            if (rule->allow) {
                code.jump(BPF_JA, 0, 0, decided);
            } else {
                code.emit(move(answer, 0));
                code.emit(exit_program());
            }
            code.place(next_rule);
        }
        // No rule names this access for this device: allowed, as in a new v1 cgroup.
        code.place(decided);
    }
    code.emit(move(answer, 1));
    code.emit(exit_program());
    return code.finish();
}

void attach_device_filter(const std::string& cgroup_dir, std::span<const DeviceAccess> rules) {
    const std::vector<bpf_insn> program = device_filter_program(rules);
    static constexpr char license[] = "MIT";
    bpf_attr load{};
    load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    load.insns = reinterpret_cast<std::uintptr_t>(program.data());
    load.insn_cnt = static_cast<std::uint32_t>(program.size());
    load.license = reinterpret_cast<std::uintptr_t>(license);
    UniqueFd loaded(static_cast<int>(bpf(BPF_PROG_LOAD, load)));
    if (!loaded) {
        const int err = errno;
        if (err != EINVAL && err != EACCES) {
            throw_errno("cannot load the devices cgroup's eBPF program (bpf BPF_PROG_LOAD)", err);
        }
        // Refused by the verifier: load again with its log, which says why.
        std::vector<char> log(64 * 1024);
        load.log_level = 1;
        load.log_buf = reinterpret_cast<std::uintptr_t>(log.data());
        load.log_size = static_cast<std::uint32_t>(log.size());
        loaded = UniqueFd(static_cast<int>(bpf(BPF_PROG_LOAD, load)));
        if (!loaded) {
            throw Error(fmt::format(
                "the kernel refuses the devices cgroup's eBPF program ({} instructions): {}",
                program.size(), verifier_reason(log)));
        }
    }
    const UniqueFd cgroup(::open(cgroup_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!cgroup) {
        throw_errno(fmt::format("cannot open cgroup {}", cgroup_dir), errno);
    }
    bpf_attr attach{};
    attach.target_fd = static_cast<std::uint32_t>(cgroup.get());
    attach.attach_bpf_fd = static_cast<std::uint32_t>(loaded.get());
    attach.attach_type = BPF_CGROUP_DEVICE;
    attach.attach_flags = BPF_F_ALLOW_MULTI;
    if (bpf(BPF_PROG_ATTACH, attach) != 0) {
        throw_errno(
            fmt::format("cannot attach the devices cgroup's eBPF program to {}", cgroup_dir),
            errno);
    }
    // The attachment holds the program now; our descriptor goes.
}

}  // namespace berth::container
