#include "vmm/machine/device_snapshot.hpp"

#include <algorithm>

#include "vmm/common/error.hpp"

namespace berth::machine {

namespace {

nlohmann::json bytes_to_json(std::span<const std::uint8_t> bytes) {
    return nlohmann::json::binary(std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
}

std::vector<std::uint8_t> json_bytes(const nlohmann::json& json) {
    return json.get_binary();  // throws type_error unless binary
}

template <std::size_t N>
std::array<std::uint8_t, N> fixed_bytes(const nlohmann::json& json, const char* what) {
    const auto bytes = json_bytes(json);
    if (bytes.size() != N) {
        throw bad_input(std::string(what) + " has the wrong size");
    }
    std::array<std::uint8_t, N> out{};
    std::copy(bytes.begin(), bytes.end(), out.begin());
    return out;
}

}  // namespace

nlohmann::json to_json(const devices::Uart8250::State& state) {
    return {{"receive_fifo", bytes_to_json(state.receive_fifo)},
            {"ier", state.interrupt_enable},
            {"lcr", state.line_control},
            {"mcr", state.modem_control},
            {"scr", state.scratch},
            {"fcr", state.fifo_control},
            {"dll", state.divisor_low},
            {"dlm", state.divisor_high},
            {"thre_interrupt", state.transmit_empty_interrupt}};
}

devices::Uart8250::State uart_state(const nlohmann::json& json) {
    return {json_bytes(json.at("receive_fifo")),  json.at("ier").get<std::uint8_t>(),
            json.at("lcr").get<std::uint8_t>(),   json.at("mcr").get<std::uint8_t>(),
            json.at("scr").get<std::uint8_t>(),   json.at("fcr").get<std::uint8_t>(),
            json.at("dll").get<std::uint8_t>(),   json.at("dlm").get<std::uint8_t>(),
            json.at("thre_interrupt").get<bool>()};
}

nlohmann::json to_json(const devices::I8042::State& state) {
    return {{"output", bytes_to_json(state.output)},
            {"control", state.control},
            {"pending_command", state.pending_command},
            {"self_tested", state.self_tested}};
}

devices::I8042::State i8042_state(const nlohmann::json& json) {
    return {json_bytes(json.at("output")), json.at("control").get<std::uint8_t>(),
            json.at("pending_command").get<std::uint8_t>(), json.at("self_tested").get<bool>()};
}

nlohmann::json config_to_json(const std::array<std::uint8_t, 256>& bytes) {
    return bytes_to_json(bytes);
}

std::array<std::uint8_t, 256> config_bytes(const nlohmann::json& json) {
    return fixed_bytes<256>(json, "PCI configuration space");
}

nlohmann::json to_json(const devices::virtio::PciTransport::State& state) {
    nlohmann::json msix = nlohmann::json::array();
    for (const auto& vector : state.msix) {
        msix.push_back({{"entry", bytes_to_json(vector.entry)}, {"pending", vector.pending}});
    }
    nlohmann::json queues = nlohmann::json::array();
    for (const auto& queue : state.queues) {
        queues.push_back({{"size", queue.size},
                          {"msix_vector", queue.vector},
                          {"enabled", queue.enabled},
                          {"descriptors", queue.layout.descriptors},
                          {"driver_area", queue.layout.driver_area},
                          {"device_area", queue.layout.device_area},
                          {"next_avail", queue.position.next_avail},
                          {"next_used", queue.position.next_used},
                          {"last_signalled_used", queue.position.last_signalled_used}});
    }
    return {{"config", config_to_json(state.config)},
            {"msix", std::move(msix)},
            {"device_feature_select", state.device_feature_select},
            {"driver_feature_select", state.driver_feature_select},
            {"driver_features", state.driver_features},
            {"queue_select", state.queue_select},
            {"status", state.status},
            {"isr", state.isr},
            {"config_msix_vector", state.config_vector},
            {"queues", std::move(queues)},
            {"device_state", bytes_to_json(state.device_state)}};
}

devices::virtio::PciTransport::State transport_state(const nlohmann::json& json) {
    devices::virtio::PciTransport::State state;
    state.config = config_bytes(json.at("config"));
    for (const auto& vector : json.at("msix")) {
        state.msix.push_back(
            {fixed_bytes<devices::pci::msix_entry_size>(vector.at("entry"), "MSI-X entry"),
             vector.at("pending").get<bool>()});
    }
    state.device_feature_select = json.at("device_feature_select").get<std::uint32_t>();
    state.driver_feature_select = json.at("driver_feature_select").get<std::uint32_t>();
    state.driver_features = json.at("driver_features").get<std::uint64_t>();
    state.queue_select = json.at("queue_select").get<std::uint16_t>();
    state.status = json.at("status").get<std::uint8_t>();
    state.isr = json.at("isr").get<std::uint8_t>();
    state.config_vector = json.at("config_msix_vector").get<std::uint16_t>();
    for (const auto& queue : json.at("queues")) {
        devices::virtio::PciTransport::QueueState saved;
        saved.size = queue.at("size").get<std::uint16_t>();
        saved.vector = queue.at("msix_vector").get<std::uint16_t>();
        saved.enabled = queue.at("enabled").get<bool>();
        saved.layout.descriptors = queue.at("descriptors").get<std::uint64_t>();
        saved.layout.driver_area = queue.at("driver_area").get<std::uint64_t>();
        saved.layout.device_area = queue.at("device_area").get<std::uint64_t>();
        saved.position.next_avail = queue.at("next_avail").get<std::uint16_t>();
        saved.position.next_used = queue.at("next_used").get<std::uint16_t>();
        saved.position.last_signalled_used = queue.at("last_signalled_used").get<std::uint16_t>();
        state.queues.push_back(saved);
    }
    // Snapshots from before devices kept state of their own have none.
    if (json.contains("device_state")) {
        state.device_state = json_bytes(json.at("device_state"));
    }
    return state;
}

}  // namespace berth::machine
