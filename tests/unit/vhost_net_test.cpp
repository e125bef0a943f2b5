#include <catch2/catch.hpp>

#include <cstring>

#include "devices/virtio/vhost_abi.hpp"
#include "devices/virtio/vhost_net.hpp"

using namespace berth::devices::virtio;

TEST_CASE("vhost-net: the guest is offered the ring features the kernel has, never queue reset",
          "[virtio][vhost]") {
    const std::uint64_t kernel = feature_version_1 | feature_event_idx | feature_indirect_desc |
                                 feature_ring_reset | net_feature_mrg_rxbuf |
                                 vhost_net_feature_virtio_net_hdr;
    CHECK(vhost_ring_features(kernel) ==
          (feature_version_1 | feature_event_idx | feature_indirect_desc));
    CHECK(vhost_ring_features(feature_version_1) == feature_version_1);
}

TEST_CASE("vhost-net: the kernel is told the driver's ring features and MRG_RXBUF only",
          "[virtio][vhost]") {
    const std::uint64_t kernel = feature_version_1 | feature_event_idx | feature_indirect_desc |
                                 net_feature_mrg_rxbuf | vhost_net_feature_virtio_net_hdr;
    // Device-type bits (the tap's business) and the legacy header bit never go to it.
    const std::uint64_t driver = feature_version_1 | feature_event_idx | net_feature_mrg_rxbuf |
                                 net_feature_mac | net_feature_csum | net_feature_guest_tso4 |
                                 net_feature_status;
    CHECK(vhost_acked_features(driver, kernel) ==
          (feature_version_1 | feature_event_idx | net_feature_mrg_rxbuf));
    // A driver without EVENT_IDX: the kernel must not use the event fields.
    CHECK(vhost_acked_features(feature_version_1, kernel) == feature_version_1);
    // What the kernel lacks is not acked, whatever the driver says.
    CHECK(vhost_acked_features(driver, feature_version_1) == feature_version_1);
}

TEST_CASE("vhost-net: the memory table maps each RAM region to where berth has it",
          "[virtio][vhost]") {
    berth::memory::GuestRam ram;
    ram.add_ram(0, 0x200000);
    ram.add_ram(0x100000000, 0x100000);
    const std::vector<std::uint64_t> table = vhost_memory_table(ram.regions());
    REQUIRE(table.size() * 8 == sizeof(vhost_memory) + 2 * sizeof(vhost_memory_region));
    vhost_memory header{};
    std::memcpy(&header, table.data(), sizeof header);
    CHECK(header.nregions == 2);
    CHECK(header.padding == 0);
    vhost_memory_region regions[2]{};
    std::memcpy(regions, table.data() + 1, sizeof regions);
    CHECK(regions[0].guest_phys_addr == 0);
    CHECK(regions[0].memory_size == 0x200000);
    CHECK(regions[0].userspace_addr == reinterpret_cast<std::uint64_t>(ram.span(0, 1).data()));
    CHECK(regions[1].guest_phys_addr == 0x100000000);
    CHECK(regions[1].memory_size == 0x100000);
    CHECK(regions[1].userspace_addr ==
          reinterpret_cast<std::uint64_t>(ram.span(0x100000000, 1).data()));
    CHECK(regions[0].flags_padding == 0);
}
