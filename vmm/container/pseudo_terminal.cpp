#include "vmm/container/pseudo_terminal.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>

#include "vmm/common/error.hpp"

namespace berth::container {

PtyPair PtyPair::open(const std::optional<WindowSize>& size) {
    PtyPair pair;
    pair.master.reset(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!pair.master || ::grantpt(pair.master.get()) != 0 || ::unlockpt(pair.master.get()) != 0) {
        throw_errno("cannot open a pseudo-terminal for -t", errno);
    }
    // TIOCGPTPEER opens the slave through the master: no path lookup, no race.
    pair.slave.reset(::ioctl(pair.master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!pair.slave) {
        throw_errno("cannot open the pseudo-terminal's slave side", errno);
    }
    if (size) {
        const winsize cells{
            .ws_row = size->rows, .ws_col = size->columns, .ws_xpixel = 0, .ws_ypixel = 0};
        if (::ioctl(pair.master.get(), TIOCSWINSZ, &cells) != 0) {
            throw_errno("cannot set the pseudo-terminal's size", errno);
        }
    }
    return pair;
}

void copy_window_size(int from, int to) {
    winsize size{};
    if (::ioctl(from, TIOCGWINSZ, &size) == 0) {
        ::ioctl(to, TIOCSWINSZ, &size);
    }
}

}  // namespace berth::container
