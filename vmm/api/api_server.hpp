#pragma once
// berth's control API server: JSON over HTTP/1.1 on a unix socket (berth vm run
// --api-socket PATH), answered by a VmController. The endpoints, their bodies and
// their errors are documented in docs/api/openapi.yaml:
//   GET /vm          VM info and state
//   GET /vm/stats    VM exits by reason and by device
//   PUT /vm/pause    park every vCPU
//   PUT /vm/resume   run them again
//   PUT /vm/stop     end the VM at once (berth exits with status 0)
//   PUT /vm/snapshot {"snapshot_path": DIR}: save the VM into DIR; it stays paused
// Errors are {"error": "..."}: 404 for an unknown path, 405 for a known path with
// another method, 400 for a body that is not what the endpoint takes or a request the
// VM cannot do in its state, 500 when the VM failed.
//
// The server is bound when it is made (before KVM is opened: a taken path is bad input
// at once) and answers while the Serving that serve() returns lives, on threads of its own: two
// workers, so that a client that connects and never finishes its request holds up only one of them,
// for at most the read timeout. vCPU threads never wait for it.

#include <atomic>
#include <filesystem>
#include <memory>

#include "vmm/api/vm_controller.hpp"
#include "vmm/common/thread.hpp"

namespace httplib {
class Server;
}  // namespace httplib

namespace berth::api {

class ApiServer {
public:
    // Claims `path` (api_socket.hpp) and listens on it; throws berth::Error.
    explicit ApiServer(std::filesystem::path path);
    // Removes the socket file.
    ~ApiServer();
    ApiServer(const ApiServer&) = delete;
    ApiServer& operator=(const ApiServer&) = delete;

    // While one lives, the server answers requests for a VM; its end closes the
    // listening socket after the requests in progress are answered.
    class Serving {
    public:
        explicit Serving(ApiServer& server);
        ~Serving();
        Serving(const Serving&) = delete;
        Serving& operator=(const Serving&) = delete;

    private:
        ApiServer& server_;
        std::atomic<bool> ended_{false};  // the server's loop has returned
        Thread thread_;
    };

    // Answers requests for `vm` (which must outlive the result) from now on. Once only.
    [[nodiscard]] std::unique_ptr<Serving> serve(VmController& vm);

    const std::filesystem::path& path() const { return path_; }

private:
    void add_routes();

    std::filesystem::path path_;
    std::unique_ptr<httplib::Server> http_;
    VmController* vm_ = nullptr;
};

}  // namespace berth::api
