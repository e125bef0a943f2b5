#pragma once
// The two ways a vCPU's exits reach devices: port I/O and MMIO. A machine fills them
// while it is assembled; once its vCPUs run they are only read (from every vCPU
// thread at once), and devices that several vCPUs reach lock themselves.

#include "devices/bus/mmio_bus.hpp"
#include "devices/bus/port_io_bus.hpp"

namespace berth::machine {

struct Buses {
    devices::PortIoBus ports;
    devices::MmioBus mmio;
};

}  // namespace berth::machine
