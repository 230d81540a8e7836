// A minimal HTTP/1.1 server on 127.0.0.1 for CamClient tests: one thread, one
// connection at a time, keep-alive, requests recorded for the test to inspect.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace camproxy::auth::test {

struct RecordedRequest {
  std::string method, target, body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  // Value of the only header with this (lower-case) name; "" when absent.
  std::string header(std::string_view name) const;
};

struct Reply {
  int status = 200;
  std::string body;
};

enum class ServerMode {
  answer,        // parse requests, reply with the handler's Reply
  never_answer,  // accept, read and discard, never reply
  not_tls,       // on accept, send a plain-text HTTP error and close (breaks a TLS client)
};

class TestHttpServer {
 public:
  using Handler = std::function<Reply(const RecordedRequest&)>;

  explicit TestHttpServer(Handler handler, ServerMode mode = ServerMode::answer);
  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;
  ~TestHttpServer();  // stops and joins the thread

  std::uint16_t port() const { return port_; }
  std::vector<RecordedRequest> requests() const;
  int connections() const;

 private:
  void run();
  void serve(int fd);
  bool wait_readable(int fd);  // false when stopping

  Handler handler_;
  ServerMode mode_;
  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  std::uint16_t port_ = 0;
  mutable std::mutex mu_;
  std::vector<RecordedRequest> requests_;
  int connections_ = 0;
  std::thread thread_;
};

// A port on 127.0.0.1 that refuses connections: bound but not listening, held open
// for the lifetime of the object so no one else takes it.
class RefusingPort {
 public:
  RefusingPort();
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;
  ~RefusingPort();
  std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace camproxy::auth::test
