#pragma once
// What the user said about one disk: --disk PATH[,format=raw|qcow2][,ro], and opening it.
//
// The format is never taken from the file's content: a guest can write any bytes into a
// raw disk, including a qcow2 header naming /etc/shadow as its backing file. A file
// attached without format= is raw; one whose first bytes are the qcow2 magic is then
// refused (the user says which it is), so the guest's bytes are never followed as
// metadata. Backing files are followed only from an image the user named format=qcow2.

#include <filesystem>
#include <memory>
#include <string>

#include "devices/block/backend.hpp"

namespace berth::devices::block {

enum class DiskFormat { unspecified, raw, qcow2 };

struct DiskSpec {
    std::filesystem::path path;
    Access access = Access::read_write;
    DiskFormat format = DiskFormat::unspecified;
    // "PATH", then options from the right: "ro", "rw", "format=raw", "format=qcow2". The
    // last comma-separated part is always an option; earlier parts that are not one
    // belong to the path ("dir,x/a.img,ro").
    static DiskSpec parse(const std::string& text);
};

// Whether the file open on `fd` starts with the qcow2 magic (to refuse a raw disk that
// does, never to choose a format).
bool starts_like_qcow2(int fd);

// Opens and checks the disk (bad input → Error with status 2, its message naming the
// structure at fault, not the path: the caller says which disk).
std::unique_ptr<BlockBackend> open_disk(const DiskSpec& spec);

}  // namespace berth::devices::block
