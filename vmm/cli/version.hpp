#pragma once
#include "version_config.h"

namespace berth {
inline constexpr const char* version = BERTH_VERSION;
}
