#pragma once
// Builds newc cpio archives (no compression) for the initramfs tests.

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace berth::test {

inline void add_cpio_entry(std::vector<std::uint8_t>& out, const std::string& name,
                           std::uint32_t mode, const std::string& data) {
    char header[111];
    std::snprintf(header, sizeof header,
                  "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", 1u, mode, 0u, 0u,
                  1u, 0u, static_cast<unsigned>(data.size()), 0u, 0u, 0u, 0u,
                  static_cast<unsigned>(name.size() + 1), 0u);
    out.insert(out.end(), header, header + 110);
    out.insert(out.end(), name.begin(), name.end());
    out.push_back(0);
    while (out.size() % 4 != 0) {
        out.push_back(0);
    }
    out.insert(out.end(), data.begin(), data.end());
    while (out.size() % 4 != 0) {
        out.push_back(0);
    }
}

inline void add_cpio_trailer(std::vector<std::uint8_t>& out) {
    add_cpio_entry(out, "TRAILER!!!", 0, "");
}

}  // namespace berth::test
