// The control API's server and socket handling (vmm/api) over a real unix socket,
// with a stand-in VM: routes, JSON errors, bodies, hang-ups, taken and stale paths.
// The API in front of a real guest is tested in tests/integration/api-tests.sh.

#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "vmm/api/api_client.hpp"
#include "vmm/api/api_server.hpp"
#include "vmm/api/api_socket.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/temp_dir.hpp"
#include "vmm/common/unique_fd.hpp"

namespace {

using berth::api::ApiServer;

class FakeVm final : public berth::api::VmController {
public:
    nlohmann::json info() override { return {{"state", paused ? "paused" : "running"}}; }
    void pause() override {
        if (paused) {
            throw berth::bad_input("cannot pause: the VM is paused already");
        }
        paused = true;
        ++pauses;
    }
    void resume() override { paused = false; }
    void shutdown() override { ++power_button_presses; }
    void stop() override { stopped = true; }
    nlohmann::json stats() override { throw berth::Error("KVM_RUN failed: the host broke"); }
    void snapshot(const std::filesystem::path& dir) override {
        paused = true;
        snapshots.push_back(dir);
    }

    std::vector<std::filesystem::path> snapshots;
    bool paused = false;
    bool stopped = false;
    int pauses = 0;
    int power_button_presses = 0;
};

httplib::Client client_for(const std::filesystem::path& socket) {
    httplib::Client client(socket.string(), 0);
    client.set_address_family(AF_UNIX);
    return client;
}

std::string error_of(const httplib::Result& result) {
    REQUIRE(result);
    CHECK(result->get_header_value("Content-Type") == "application/json");
    return nlohmann::json::parse(result->body).at("error").get<std::string>();
}

// A socket file nobody listens on, as a berth that was killed leaves behind.
void make_stale_socket(const std::filesystem::path& path) {
    berth::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strcpy(address.sun_path, path.c_str());
    REQUIRE(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
}

}  // namespace

TEST_CASE("the API answers its endpoints with the VM's JSON", "[api]") {
    const berth::TempDir dir("berth-api-");
    const auto path = dir.path() / "api.sock";
    FakeVm vm;
    ApiServer server(path);
    const auto serving = server.serve(vm);
    auto client = client_for(path);

    auto info = client.Get("/vm");
    REQUIRE(info);
    CHECK(info->status == 200);
    CHECK(nlohmann::json::parse(info->body).at("state") == "running");

    auto pause = client.Put("/vm/pause", "", "application/json");
    REQUIRE(pause);
    CHECK(pause->status == 200);
    CHECK(nlohmann::json::parse(pause->body).at("state") == "paused");
    // {} is no parameters too.
    CHECK(client.Put("/vm/resume", "{}", "application/json")->status == 200);
    CHECK_FALSE(vm.paused);
    CHECK(client.Put("/vm/shutdown", "", "application/json")->status == 200);
    CHECK(vm.power_button_presses == 1);
    CHECK(client.Put("/vm/stop", "", "application/json")->status == 200);
    CHECK(vm.stopped);
}

TEST_CASE("the API's errors are JSON bodies with the right status", "[api]") {
    const berth::TempDir dir("berth-api-");
    const auto path = dir.path() / "api.sock";
    FakeVm vm;
    ApiServer server(path);
    const auto serving = server.serve(vm);
    auto client = client_for(path);

    auto unknown = client.Get("/vm/nowhere");
    CHECK(unknown->status == 404);
    CHECK(error_of(unknown).find("/vm/nowhere") != std::string::npos);

    auto wrong_method = client.Post("/vm", "", "application/json");
    CHECK(wrong_method->status == 405);
    CHECK(wrong_method->get_header_value("Allow") == "GET");
    CHECK(error_of(wrong_method).find("use GET") != std::string::npos);

    for (const char* body : {"{\"paused\":", "[1]", "{\"force\": true}"}) {
        auto bad_body = client.Put("/vm/pause", body, "application/json");
        CHECK(bad_body->status == 400);
        CHECK_FALSE(error_of(bad_body).empty());
    }
    CHECK(vm.pauses == 0);  // none of them paused the VM

    // The VM refuses (bad input: 400) or fails (500); the message is the VM's.
    REQUIRE(client.Put("/vm/pause", "", "application/json")->status == 200);
    auto again = client.Put("/vm/pause", "", "application/json");
    CHECK(again->status == 400);
    CHECK(error_of(again) == "cannot pause: the VM is paused already");
    auto failed = client.Get("/vm/stats");
    CHECK(failed->status == 500);
    CHECK(error_of(failed) == "KVM_RUN failed: the host broke");
}

TEST_CASE("a client that hangs up mid-request does no harm", "[api]") {
    const berth::TempDir dir("berth-api-");
    const auto path = dir.path() / "api.sock";
    FakeVm vm;
    ApiServer server(path);
    const auto serving = server.serve(vm);
    for (const std::string partial :
         {"PUT /vm/pause HTTP/1.1\r\nContent-Length: 100\r\n\r\n{", "GET /v"}) {
        berth::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strcpy(address.sun_path, path.c_str());
        REQUIRE(::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) ==
                0);
        REQUIRE(::write(fd.get(), partial.data(), partial.size()) ==
                static_cast<ssize_t>(partial.size()));
    }
    auto client = client_for(path);
    auto info = client.Get("/vm");
    REQUIRE(info);
    CHECK(info->status == 200);
    CHECK(vm.pauses == 0);
}

TEST_CASE("the API socket's path: free, stale, taken or not a socket", "[api]") {
    const berth::TempDir dir("berth-api-");
    const auto path = dir.path() / "api.sock";
    using berth::api::probe_socket_path;
    using berth::api::SocketPath;
    CHECK(probe_socket_path(path) == SocketPath::absent);

    make_stale_socket(path);
    CHECK(probe_socket_path(path) == SocketPath::stale);
    {
        ApiServer server(path);  // takes the stale socket over
        CHECK(probe_socket_path(path) == SocketPath::listening);
        try {
            ApiServer second(path);
            FAIL("a second server on a served path");
        } catch (const berth::Error& e) {
            CHECK(e.status() == berth::ExitStatus::bad_input);
            CHECK(std::string(e.what()).find("another process listens") != std::string::npos);
        }
    }
    CHECK(probe_socket_path(path) == SocketPath::absent);  // removed by its server

    std::ofstream(path.string()) << "not a socket";
    try {
        ApiServer server(path);
        FAIL("a server over a regular file");
    } catch (const berth::Error& e) {
        CHECK(e.status() == berth::ExitStatus::bad_input);
        CHECK(std::string(e.what()).find("not a socket") != std::string::npos);
    }
    CHECK(std::filesystem::is_regular_file(path));  // left alone
    CHECK_THROWS_AS(probe_socket_path(std::string(200, 'x')), berth::Error);
}

TEST_CASE("vm ctl's client refuses a path no VM serves as bad input", "[api]") {
    const berth::TempDir dir("berth-api-");
    const auto path = dir.path() / "api.sock";
    auto status_of = [&](std::string_view command) {
        try {
            berth::api::run_api_command(path, command);
        } catch (const berth::Error& e) {
            return e.status();
        }
        FAIL("no error");
        return berth::ExitStatus::failure;
    };
    CHECK(status_of("info") == berth::ExitStatus::bad_input);  // absent
    make_stale_socket(path);
    CHECK(status_of("info") == berth::ExitStatus::bad_input);    // stale
    CHECK(status_of("reboot") == berth::ExitStatus::bad_input);  // no such command
}

TEST_CASE("PUT /vm/snapshot takes an absolute snapshot_path and nothing else", "[api]") {
    const berth::TempDir dir("berth-api-");
    const auto path = dir.path() / "api.sock";
    FakeVm vm;
    ApiServer server(path);
    const auto serving = server.serve(vm);
    auto client = client_for(path);

    auto taken =
        client.Put("/vm/snapshot", R"({"snapshot_path": "/srv/snap"})", "application/json");
    REQUIRE(taken);
    CHECK(taken->status == 200);
    CHECK(nlohmann::json::parse(taken->body).at("state") == "paused");
    REQUIRE(vm.snapshots.size() == 1);
    CHECK(vm.snapshots[0] == "/srv/snap");

    for (const char* body : {"", "{}", "{\"snapshot_path\": 3}", "{\"snapshot_path\": \"\"}",
                             "{\"snapshot_path\": \"rel/dir\"}",
                             "{\"snapshot_path\": \"/a\", \"force\": 1}", "[\"/a\"]", "{"}) {
        auto bad = client.Put("/vm/snapshot", body, "application/json");
        REQUIRE(bad);
        CHECK(bad->status == 400);
        CHECK(error_of(bad).find("snapshot_path") != std::string::npos);
    }
    CHECK(vm.snapshots.size() == 1);
    CHECK(client.Get("/vm/snapshot")->status == 405);
}
