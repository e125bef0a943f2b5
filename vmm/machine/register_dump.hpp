#pragma once
// A readable dump of a vCPU's registers, printed when a guest dies (triple fault,
// KVM internal error) so the user sees where it was.

#include <string>

#include "vmm/kvm/vcpu.hpp"

namespace berth::machine {

std::string register_dump(const kvm::Vcpu& vcpu);

}  // namespace berth::machine
