#pragma once
// The benchmark's one root filesystem for both modes: an initramfs (a newc cpio
// archive, gzip'd or not, as images/build-initramfs.sh makes). The VM boots it as its
// initrd; the containers run from a copy unpacked into a temporary directory. Reading
// checks that the archive can serve both: an /init that runs berth_run= commands (for
// the VM) and a /bin/sh (for the workload in either mode).

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace berth::bench {

struct CpioEntry {
    std::string path;  // relative, without "./": "bin/sh"
    std::uint32_t mode = 0;
    std::size_t data_offset = 0;  // into InitramfsImage's bytes
    std::size_t data_size = 0;
};

// The most an archive may hold once gunzipped: the guest RAM the bench gives its VM
// (startup_bench's --memory 256M). A larger one could not be the VM's initrd anyway, and
// the cap turns a gzip bomb into a size error instead of an allocation failure.
inline constexpr std::size_t max_archive_bytes = std::size_t{256} << 20;

class InitramfsImage {
public:
    // Reads and parses `path`; anything that is not a newc cpio archive (an ext4 disk
    // image, say) or that holds more than `limit` bytes is bad input that says why.
    static InitramfsImage read(const std::filesystem::path& path,
                               std::size_t limit = max_archive_bytes);
    // Parses an uncompressed archive (for tests).
    static InitramfsImage parse(std::vector<std::uint8_t> bytes, const std::string& name);

    const std::vector<CpioEntry>& entries() const { return entries_; }
    const CpioEntry* find(std::string_view path) const;
    std::span<const std::uint8_t> data(const CpioEntry& entry) const;

    // Bad input unless the archive can boot as berth's guest and run the workload.
    void check_serves_both_modes() const;
    // Writes the directories, regular files and symlinks under `dir` and nowhere else
    // (bench/tree_writer: no "..", no absolute names, no writing through links, no
    // set-ID bits); device nodes, fifos and sockets are skipped: the container runtime
    // makes its own /dev.
    void unpack(const std::filesystem::path& dir) const;

private:
    std::string name_;
    std::vector<std::uint8_t> bytes_;
    std::vector<CpioEntry> entries_;
};

}  // namespace berth::bench
