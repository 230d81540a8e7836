#pragma once
// A minimal HTTP/1.1 server for the admin endpoint, on the control loop. One request per
// connection (Connection: close); requests above 8 KiB or slower than 5 s are dropped.
#include <uv.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/admin_request.h"
#include "proxy/config/config.h"
#include "proxy/net/acceptor.h"

namespace camproxy::proxy {

struct AdminResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using AdminHandler = std::function<AdminResponse(std::string_view method, std::string_view path)>;
// Runs before the handler: nullopt lets the request through, an answer refuses it
// (admin_access_refusal on the --admin listener).
using AdminGate = std::function<std::optional<AdminResponse>(const AdminRequest&)>;

// Answers a request that was deferred. Safe to call after the client went away (the answer is
// then dropped) and on the control loop only; at most once.
using AdminReply = std::function<void(AdminResponse)>;
// Tried before the AdminHandler: takes a request it answers later through `reply` (true), or
// leaves it to the AdminHandler (false). The request's views live only during the call.
using AdminDeferredHandler = std::function<bool(const AdminRequest& request, AdminReply reply)>;

// The read-only listener (--http-address, reachable from outside the pod): passes only GET of
// /startup, /healthz, /readyz and /metrics on to `full`; any other method is 405, any other
// path 404, so nothing there changes the process or shows more than counters.
AdminHandler read_only_handler(AdminHandler full);

class AdminServer {
 public:
  // `name` says which listener it is in errors ("admin", "http").
  AdminServer(uv_loop_t* loop, AdminHandler handler, std::string name = "admin", AdminGate gate = {})
      : loop_(loop),
        handler_(std::move(handler)),
        name_(std::move(name)),
        gate_(std::move(gate)),
        acceptor_(loop, name_, on_accepted, this) {}
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Requests answered later (the admin endpoint's, never the read-only listener's).
  void set_deferred_handler(AdminDeferredHandler deferred) { deferred_ = std::move(deferred); }

  bool listen(const HostPort& address, std::string& error);
  void close();

 private:
  struct Conn;
  static void on_accepted(void* server, int fd);

  uv_loop_t* loop_;
  AdminHandler handler_;
  AdminDeferredHandler deferred_;
  std::string name_;
  AdminGate gate_;
  Acceptor acceptor_;  // after name_, which it copies
  bool listening_ = false;
};

}  // namespace camproxy::proxy
