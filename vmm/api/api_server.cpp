#include "vmm/api/api_server.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <httplib.h>

#include "vmm/api/api_socket.hpp"
#include "vmm/common/error.hpp"
#include "vmm/common/quote.hpp"

namespace berth::api {

namespace {

constexpr const char* json_type = "application/json";
// A client that stops in the middle of a request, or keeps an idle connection open,
// holds its worker at most this long.
constexpr time_t client_timeout_seconds = 2;
// No request of this API carries more than a small JSON object.
constexpr std::size_t max_body_bytes = 64 * 1024;
// Workers answering requests: one client that stalls leaves the other free.
constexpr std::size_t worker_count = 2;

// The endpoints and the one method each answers (for 405's Allow header).
const std::map<std::string, std::string>& endpoints() {
    static const std::map<std::string, std::string> table = {
        {"/vm", "GET"},          {"/vm/stats", "GET"},    {"/vm/pause", "PUT"},
        {"/vm/resume", "PUT"},   {"/vm/shutdown", "PUT"}, {"/vm/stop", "PUT"},
        {"/vm/snapshot", "PUT"},
    };
    return table;
}

void answer(httplib::Response& response, int status, const nlohmann::json& body) {
    response.status = status;
    response.set_content(body.dump() + "\n", json_type);
}

void answer_error(httplib::Response& response, int status, const std::string& message) {
    answer(response, status, nlohmann::json{{"error", message}});
}

// A PUT of this API takes no parameters: its body is nothing, or an empty JSON
// object. Returns what is wrong with it, or nothing.
std::string body_problem(const httplib::Request& request) {
    if (request.body.empty()) {
        return {};
    }
    const auto body = nlohmann::json::parse(request.body, nullptr, false);
    if (body.is_discarded()) {
        return "the request body is not JSON; send no body, or {}";
    }
    if (!body.is_object()) {
        return "the request body is not a JSON object; send no body, or {}";
    }
    if (!body.empty()) {
        return fmt::format("unknown field {} in the request body; {} {} takes none",
                           quote(body.begin().key()), request.method, request.path);
    }
    return {};
}

// PUT /vm/snapshot's body: {"snapshot_path": "DIR"} and nothing else. Returns the path,
// or throws a bad-input Error saying what is wrong.
std::filesystem::path snapshot_path(const httplib::Request& request) {
    const std::string usage = R"(; send {"snapshot_path": "/absolute/dir"})";
    const auto body = nlohmann::json::parse(request.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
        throw bad_input("the request body is not a JSON object" + usage);
    }
    for (const auto& [key, value] : body.items()) {
        if (key != "snapshot_path") {
            throw bad_input(
                fmt::format("unknown field {} in the request body{}", quote(key), usage));
        }
    }
    const auto path = body.find("snapshot_path");
    if (path == body.end() || !path->is_string() || path->get<std::string>().empty()) {
        throw bad_input("snapshot_path is missing or not a non-empty string" + usage);
    }
    std::filesystem::path dir = path->get<std::string>();
    if (!dir.is_absolute()) {
        // The server's working directory is not the client's.
        throw bad_input(fmt::format("snapshot_path {} is relative{}", quote(dir.string()), usage));
    }
    return dir;
}

// httplib's task queue on berth::Threads (small stacks; vmm/common/thread.hpp says
// why) rather than its std::thread pool.
class Workers final : public httplib::TaskQueue {
public:
    explicit Workers(std::size_t count) {
        for (std::size_t i = 0; i < count; ++i) {
            threads_.emplace_back("api", [this] { work(); });
        }
    }
    ~Workers() override { shutdown(); }

    void enqueue(std::function<void()> job) override {
        {
            std::lock_guard lock(mutex_);
            jobs_.push_back(std::move(job));
        }
        wake_.notify_one();
    }
    // Answers the connections already accepted, then ends the workers.
    void shutdown() override {
        {
            std::lock_guard lock(mutex_);
            done_ = true;
        }
        wake_.notify_all();
        for (auto& thread : threads_) {
            thread.join();
        }
    }

private:
    void work() {
        for (;;) {
            std::function<void()> job;
            {
                std::unique_lock lock(mutex_);
                wake_.wait(lock, [this] { return done_ || !jobs_.empty(); });
                if (jobs_.empty()) {
                    return;
                }
                job = std::move(jobs_.front());
                jobs_.pop_front();
            }
            job();
        }
    }

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::function<void()>> jobs_;
    bool done_ = false;
    std::vector<Thread> threads_;
};

}  // namespace

ApiServer::ApiServer(std::filesystem::path path)
    : path_(std::move(path)), http_(std::make_unique<httplib::Server>()) {
    claim_socket_path(path_);
    http_->set_address_family(AF_UNIX);
    http_->new_task_queue = [] { return new Workers(worker_count); };
    http_->set_read_timeout(client_timeout_seconds);
    http_->set_write_timeout(client_timeout_seconds);
    http_->set_keep_alive_timeout(client_timeout_seconds);
    http_->set_payload_max_length(max_body_bytes);
    add_routes();
    // With AF_UNIX, httplib takes the "host" for the socket's path. The port is unused,
    // but must not be 0: that asks httplib for the TCP port it was given, which a unix
    // socket has none of.
    if (!http_->bind_to_port(path_.string(), 1)) {
        const int err = errno;
        const std::string what = "API socket " + quote(path_.string()) + ": cannot listen on it";
        throw Error(err != 0 ? errno_message(what, err) : what, ExitStatus::bad_input);
    }
}

ApiServer::~ApiServer() {
    ::unlink(path_.c_str());
}

void ApiServer::add_routes() {
    // Each handler turns berth's errors into answers: a request the VM cannot do in
    // its state is the client's mistake (400), anything else the VM's (500).
    auto handle = [this](std::function<void(const httplib::Request&, httplib::Response&)> body) {
        return [this, body = std::move(body)](const httplib::Request& request,
                                              httplib::Response& response) {
            if (vm_ == nullptr) {
                answer_error(response, 503, "the VM is not running yet; try again");
                return;
            }
            try {
                body(request, response);
            } catch (const Error& e) {
                answer_error(response, e.status() == ExitStatus::bad_input ? 400 : 500,
                             one_line(e.what()));
            } catch (const std::exception& e) {
                answer_error(response, 500, one_line(e.what()));
            }
        };
    };
    auto action = [this, &handle](void (VmController::*act)()) {
        return handle([this, act](const httplib::Request& request, httplib::Response& response) {
            if (const auto problem = body_problem(request); !problem.empty()) {
                answer_error(response, 400, problem);
                return;
            }
            (vm_->*act)();
            answer(response, 200, vm_->info());
        });
    };
    http_->Get("/vm", handle([this](const httplib::Request&, httplib::Response& response) {
                   answer(response, 200, vm_->info());
               }));
    http_->Get("/vm/stats", handle([this](const httplib::Request&, httplib::Response& response) {
                   answer(response, 200, vm_->stats());
               }));
    http_->Put("/vm/pause", action(&VmController::pause));
    http_->Put("/vm/resume", action(&VmController::resume));
    http_->Put("/vm/shutdown", action(&VmController::shutdown));
    http_->Put("/vm/stop", action(&VmController::stop));
    http_->Put("/vm/snapshot",
               handle([this](const httplib::Request& request, httplib::Response& response) {
                   vm_->snapshot(snapshot_path(request));
                   answer(response, 200, vm_->info());
               }));
    // Every other answer of 400 and up without a body of its own (httplib's: no route,
    // a malformed request, a body too large) gets the API's JSON error body.
    http_->set_error_handler(httplib::Server::HandlerWithResponse(
        [](const httplib::Request& request, httplib::Response& response) {
            if (!response.body.empty()) {
                return httplib::Server::HandlerResponse::Unhandled;
            }
            if (response.status == 404) {
                const auto known = endpoints().find(request.path);
                if (known != endpoints().end()) {
                    response.set_header("Allow", known->second);
                    answer_error(response, 405,
                                 fmt::format("{} does not take {}; use {}", request.path,
                                             request.method, known->second));
                    return httplib::Server::HandlerResponse::Handled;
                }
                answer_error(
                    response, 404,
                    fmt::format("no endpoint {}; see docs/api/openapi.yaml", request.path));
                return httplib::Server::HandlerResponse::Handled;
            }
            answer_error(
                response, response.status,
                response.status == 413
                    ? fmt::format("the request body is larger than {} bytes", max_body_bytes)
                    : std::string("malformed HTTP request"));
            return httplib::Server::HandlerResponse::Handled;
        }));
}

std::unique_ptr<ApiServer::Serving> ApiServer::serve(VmController& vm) {
    vm_ = &vm;
    return std::make_unique<Serving>(*this);
}

ApiServer::Serving::Serving(ApiServer& server)
    : server_(server), thread_("api", [this] {
          server_.http_->listen_after_bind();
          ended_ = true;
      }) {
    // httplib's stop() only works on a server whose loop has begun.
    while (!server_.http_->is_running() && !ended_) {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
}

ApiServer::Serving::~Serving() {
    server_.http_->stop();
    thread_.join();
    server_.vm_ = nullptr;
}

}  // namespace berth::api
