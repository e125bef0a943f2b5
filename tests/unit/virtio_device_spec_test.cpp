#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "vmm/common/error.hpp"
#include "vmm/machine/pci_devices.hpp"
#include "vmm/machine/virtio_device_spec.hpp"

using berth::machine::index_within_kind;
using berth::machine::open_virtio_devices;
using berth::machine::virtio_device_flags;
using berth::machine::VirtioDeviceSpecs;

namespace {

const berth::machine::VirtioDeviceFlag& flag(std::string_view name) {
    for (const auto& one : virtio_device_flags()) {
        if (one.name == name) {
            return one;
        }
    }
    FAIL("no virtio device flag " << name);
    throw std::logic_error("unreachable");
}

struct TempDisk {
    std::filesystem::path path;
    TempDisk() {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "berth-spec-XXXXXX").string();
        const int fd = ::mkstemp(pattern.data());
        REQUIRE(fd >= 0);
        REQUIRE(::ftruncate(fd, 1 << 20) == 0);
        ::close(fd);
        path = pattern;
    }
    ~TempDisk() { std::filesystem::remove(path); }
};

}  // namespace

TEST_CASE("virtio device flags: one per kind, named like flags, with help", "[virtio][spec]") {
    std::set<std::string_view> names;
    for (const auto& one : virtio_device_flags()) {
        CHECK(one.name.starts_with("--"));
        CHECK_FALSE(one.help.empty());
        CHECK(one.make != nullptr);
        CHECK(names.insert(one.name).second);
    }
    CHECK(names.count("--disk") == 1);
    CHECK(names.count("--rng") == 1);
    CHECK(flag("--disk").value_name == "PATH[,format=raw|qcow2][,ro]");
    CHECK(flag("--rng").value_name.empty());
}

TEST_CASE("devices are numbered within their kind, in list order", "[virtio][spec]") {
    const TempDisk disk;
    const VirtioDeviceSpecs specs{flag("--disk").make(disk.path.string()), flag("--rng").make(""),
                                  flag("--disk").make(disk.path.string() + ",ro"),
                                  flag("--disk").make(disk.path.string())};
    CHECK(specs[0]->kind() == "disk");
    CHECK(specs[1]->kind() == "rng");
    CHECK(index_within_kind(specs) == std::vector<unsigned>{0, 0, 1, 2});
    CHECK(index_within_kind({}).empty());
}

TEST_CASE("opening the specs makes their devices in slot order", "[virtio][spec]") {
    const TempDisk disk;
    const auto devices =
        open_virtio_devices({flag("--rng").make(""), berth::machine::virtio_disk({disk.path})});
    REQUIRE(devices.size() == 2);
    CHECK(devices[0]->name() == "virtio-rng");
    CHECK(devices[1]->type() == berth::devices::virtio::DeviceType::block);
    CHECK(devices[1]->name() == "virtio-blk (" + disk.path.filename().string() + ")");
}

TEST_CASE("a spec's host side is checked when it is opened, as bad input", "[virtio][spec]") {
    const VirtioDeviceSpecs specs{flag("--disk").make("/nonexistent/berth-disk.img")};
    try {
        open_virtio_devices(specs);
        FAIL("a missing disk image was opened");
    } catch (const berth::Error& e) {
        CHECK(e.status() == berth::ExitStatus::bad_input);
        CHECK_THAT(e.what(), Catch::Contains("/nonexistent/berth-disk.img"));
    }
    CHECK_THROWS_AS(flag("--disk").make("disk.img,fast"), berth::Error);
}

TEST_CASE("NICs record what a restore needs, and those it cannot restore refuse",
          "[virtio][spec][snapshot]") {
    CHECK(flag("--net").make("user")->snapshot_record().value == "user");
    // vhost=on: the kernel holds the queues' positions. Refused before anything is open.
    CHECK_THROWS_WITH(flag("--net").make("bridge=br9,vhost=on")->snapshot_record(),
                      Catch::Contains("--net bridge=br9,vhost=on") &&
                          Catch::Contains("cannot be snapshotted yet"));
    // A bridge NIC's record is the address it leased, which only an opened NIC has.
    CHECK_THROWS_WITH(flag("--net").make("bridge=br9")->snapshot_record(),
                      Catch::Contains("not open"));
}
