#pragma once
// A shared library loaded with dlopen when a feature first needs it, rather than linked:
// berth's start-up loads only the libraries docs/benchmarks.md promises (the NEEDED
// check), so optional ones (libslirp for --net user, libarchive for cloud-init seeds)
// come in this way. A loaded library stays for the rest of the process (glib, which
// libslirp brings, does not support being unloaded), so there is nothing to close.

#include <string>

#include <fmt/format.h>

#include "vmm/common/error.hpp"

namespace berth {

class LoadedLibrary {
public:
    // Loads `soname` for `feature` ("user-mode networking"); when it cannot, an Error
    // that says which Debian package to install.
    LoadedLibrary(const char* soname, const char* feature, const char* package);

    // Sets `function` to the library's symbol `name`; a library without it is too old.
    template <typename F>
    void look_up(const char* name, F& function) const {
        function = reinterpret_cast<F>(symbol(name));
    }

private:
    void* symbol(const char* name) const;

    void* handle_ = nullptr;
    const char* soname_;
    const char* package_;
};

}  // namespace berth
