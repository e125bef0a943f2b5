#pragma once
// The device models' state (devices/: plain structures, no JSON there) in a snapshot's
// JSON (snapshot_file.hpp), and back. A field missing or of the wrong type throws
// nlohmann's exception; the restore turns it into "damaged".

#include <nlohmann/json.hpp>

#include "devices/legacy/i8042.hpp"
#include "devices/serial/uart_8250.hpp"
#include "devices/virtio/pci_transport.hpp"

namespace berth::machine {

nlohmann::json to_json(const devices::Uart8250::State& state);
devices::Uart8250::State uart_state(const nlohmann::json& json);

nlohmann::json to_json(const devices::I8042::State& state);
devices::I8042::State i8042_state(const nlohmann::json& json);

nlohmann::json to_json(const devices::virtio::PciTransport::State& state);
devices::virtio::PciTransport::State transport_state(const nlohmann::json& json);

// 256 bytes of PCI configuration space.
nlohmann::json config_to_json(const std::array<std::uint8_t, 256>& bytes);
std::array<std::uint8_t, 256> config_bytes(const nlohmann::json& json);

}  // namespace berth::machine
