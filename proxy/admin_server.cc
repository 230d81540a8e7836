#include "proxy/admin_server.h"

#include <unistd.h>

#include <cstring>
#include <memory>

#include "proxy/net/listen_socket.h"

namespace camproxy::proxy {
namespace {

constexpr size_t kMaxRequest = 8 * 1024;
constexpr uint64_t kRequestTimeoutMs = 5000;

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 422: return "Unprocessable Content";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

}  // namespace

AdminHandler read_only_handler(AdminHandler full) {
  return [full = std::move(full)](std::string_view method, std::string_view path) -> AdminResponse {
    constexpr std::string_view kPaths[] = {"/startup", "/healthz", "/readyz", "/metrics"};
    if (method != "GET") return {405, "text/plain; charset=utf-8", "method not allowed\n"};
    for (auto p : kPaths)
      if (path == p) return full(method, path);
    return {404, "text/plain; charset=utf-8", "not found\n"};
  };
}

// One admin connection: reads up to the end of the request head, answers, closes.
struct AdminServer::Conn {
  AdminServer* server = nullptr;
  uv_tcp_t tcp{};
  uv_timer_t timer{};
  uv_write_t write_req{};
  std::string request;
  std::string response;
  int open_handles = 2;
  bool closing = false;
  // A deferred reply's way back: cleared when the connection closes, so a late reply is dropped.
  std::shared_ptr<Conn*> self = std::make_shared<Conn*>(this);

  void close() {
    if (closing) return;
    closing = true;
    *self = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), on_closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp), on_closed);
  }
  static void on_closed(uv_handle_t* h) {
    auto* c = static_cast<Conn*>(h->data);
    if (--c->open_handles == 0) delete c;
  }
  static void on_alloc(uv_handle_t*, size_t, uv_buf_t* buf) {
    static thread_local char scratch[4096];
    *buf = uv_buf_init(scratch, sizeof scratch);
  }
  static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
    auto* c = static_cast<Conn*>(s->data);
    if (n == 0) return;
    if (n < 0) {
      c->close();
      return;
    }
    c->request.append(buf->base, static_cast<size_t>(n));
    if (c->request.size() > kMaxRequest) {
      c->close();
      return;
    }
    if (c->request.find("\r\n\r\n") != std::string::npos) c->answer();
  }
  static void on_timeout(uv_timer_t* t) { static_cast<Conn*>(t->data)->close(); }
  static void on_written(uv_write_t* req, int) { static_cast<Conn*>(req->data)->close(); }

  void answer() {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp));
    auto parsed = parse_admin_request(request);
    if (!parsed) {
      respond({400, "text/plain; charset=utf-8", "bad request\n"});
      return;
    }
    if (auto refused = server->gate_ ? server->gate_(*parsed) : std::nullopt) {
      respond(*refused);
      return;
    }
    AdminReply reply = [conn = self](const AdminResponse& r) {
      if (*conn != nullptr) (*conn)->respond(r);
    };
    if (server->deferred_ && server->deferred_(*parsed, std::move(reply))) return;
    respond(server->handler_(parsed->method, parsed->path));
  }

  void respond(const AdminResponse& r) {
    response = "HTTP/1.1 " + std::to_string(r.status) + " " + std::string(reason_phrase(r.status)) +
               "\r\nContent-Type: " + r.content_type + "\r\nContent-Length: " + std::to_string(r.body.size()) +
               "\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n" + r.body;
    uv_buf_t b = uv_buf_init(response.data(), static_cast<unsigned>(response.size()));
    write_req.data = this;
    if (uv_write(&write_req, reinterpret_cast<uv_stream_t*>(&tcp), &b, 1, on_written) != 0) close();
  }
};

bool AdminServer::listen(const HostPort& address, std::string& error) {
  ListenAddress where;
  where.tcp = address;
  ListenSocket socket;
  if (!open_listen_socket(where, 1, socket, error)) {
    error = name_ + ": " + error;
    return false;
  }
  listening_ = true;
  if (int rc = acceptor_.start(socket.fds.front()); rc != 0) {
    error = "cannot listen on " + name_ + " address " + address.to_string() + ": " + uv_strerror(rc);
    return false;
  }
  return true;
}

void AdminServer::close() {
  if (!listening_) return;
  listening_ = false;
  acceptor_.close();
}

void AdminServer::on_accepted(void* server, int fd) {
  auto* self = static_cast<AdminServer*>(server);
  auto* c = new Conn;
  c->server = self;
  uv_tcp_init(self->loop_, &c->tcp);
  uv_timer_init(self->loop_, &c->timer);
  c->tcp.data = c;
  c->timer.data = c;
  if (uv_tcp_open(&c->tcp, fd) != 0) {
    ::close(fd);
    c->close();
    return;
  }
  uv_timer_start(&c->timer, Conn::on_timeout, kRequestTimeoutMs, 0);
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), Conn::on_alloc, Conn::on_read);
}

}  // namespace camproxy::proxy
