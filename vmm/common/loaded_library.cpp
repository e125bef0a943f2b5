#include "vmm/common/loaded_library.hpp"

#include <dlfcn.h>

namespace berth {

LoadedLibrary::LoadedLibrary(const char* soname, const char* feature, const char* package)
    : handle_(::dlopen(soname, RTLD_NOW | RTLD_LOCAL)), soname_(soname), package_(package) {
    if (handle_ == nullptr) {
        const char* why = ::dlerror();
        throw Error(fmt::format("{} needs {}: cannot load it ({}); install Debian's {}", feature,
                                soname, why != nullptr ? why : "unknown error", package));
    }
}

void* LoadedLibrary::symbol(const char* name) const {
    void* found = ::dlsym(handle_, name);
    if (found == nullptr) {
        throw Error(fmt::format("{} has no {}; install a newer {} (Debian's package {})", soname_,
                                name, soname_, package_));
    }
    return found;
}

}  // namespace berth
