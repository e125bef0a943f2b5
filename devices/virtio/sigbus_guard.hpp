#pragma once
// Copies out of a file mapping that fail instead of killing berth when the file has
// shrunk underneath.
//
// Why: virtio-blk reads a disk image through a shared mapping (file_mapping.hpp). If
// another process truncates the image, touching a page past its new end raises
// SIGBUS, whose default action ends the process. preadv would simply hit end of file
// there, and the request would fail with IOERR; a copy made here does the same.
//
// How: a SIGBUS filter (common/fatal_signal.hpp), set once, at the first copy. When
// the fault is the kernel's (not a `kill -BUS`) and the faulting thread is inside
// copy_guarding_sigbus (a thread-local flag), it jumps back into that call, which
// reports bus_error. Any other SIGBUS goes on to the fatal-signal hooks (the raw
// terminal puts the terminal back) and then to the action installed before berth's
// (default: the process dies, as it would without berth's handler). The filter runs
// before the hooks whichever was registered first, so a caught fault never touches
// the terminal, and a copy costs no system call.

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

// Sets the process's SIGBUS filter, once; copy_guarding_sigbus does it too. Called when
// a mapping is made (during setup): a sigaction later, on a device worker, would have
// to be in that thread's seccomp list.
void install_sigbus_guard();

}  // namespace berth::devices::virtio
