#pragma once
// Copies out of a file mapping that fail instead of killing berth when the file has
// shrunk underneath.
//
// Why: virtio-blk reads a disk image through a shared mapping (file_mapping.hpp). If
// another process truncates the image, touching a page past its new end raises
// SIGBUS, whose default action ends the process. preadv would simply hit end of file
// there, and the request would fail with IOERR; a copy made here does the same.
//
// How: one process-wide SIGBUS handler. When the fault is the kernel's (not a
// `kill -BUS`) and the faulting thread is inside copy_guarding_sigbus (a thread-local
// flag), it jumps back into that call, which reports bus_error. Any other SIGBUS goes
// to whatever action was installed before ours (default: the process dies, as it
// would without berth's handler). Each call checks that the handler is still ours
// and installs it again if someone replaced it (berth's raw-terminal mode installs
// its own SIGBUS handler, to restore the terminal, after the disks are set up); ours
// then passes foreign SIGBUSes on to that one.

#include <cstddef>
#include <cstdint>
#include <span>

namespace berth::devices::virtio {

struct CopyPiece {
    std::uint8_t* to;
    const std::uint8_t* from;  // inside a file mapping
    std::size_t length;
};

enum class CopyResult { copied, bus_error };

// Copies every piece in order. bus_error: a page of the source was gone (SIGBUS); the
// pieces before it, and part of that one, may have been copied.
CopyResult copy_guarding_sigbus(std::span<const CopyPiece> pieces);

}  // namespace berth::devices::virtio
