#include "test_http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

namespace camproxy::auth::test {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::uint16_t bind_loopback(int fd) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  return ntohs(addr.sin_port);
}

void send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return;  // client went away: fine for a test server
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Parses one request from the front of `buf`; returns the bytes it used, 0 if incomplete.
std::size_t parse_request(const std::string& buf, RecordedRequest& out) {
  const auto head_end = buf.find("\r\n\r\n");
  if (head_end == std::string::npos) return 0;
  const std::string_view head(buf.data(), head_end);
  std::size_t line_end = head.find("\r\n");
  const std::string_view request_line = head.substr(0, line_end);
  const auto sp1 = request_line.find(' ');
  const auto sp2 = request_line.find(' ', sp1 + 1);
  out = {};
  out.method = std::string(request_line.substr(0, sp1));
  out.target = std::string(request_line.substr(sp1 + 1, sp2 - sp1 - 1));
  while (line_end != std::string_view::npos) {
    const std::size_t start = line_end + 2;
    line_end = head.find("\r\n", start);
    const std::string_view line =
        head.substr(start, line_end == std::string_view::npos ? std::string_view::npos : line_end - start);
    const auto colon = line.find(':');
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    out.headers.emplace_back(lower(line.substr(0, colon)), std::string(value));
  }
  const std::size_t body_len = std::strtoul(out.header("content-length").c_str(), nullptr, 10);
  if (buf.size() < head_end + 4 + body_len) return 0;
  out.body = buf.substr(head_end + 4, body_len);
  return head_end + 4 + body_len;
}

}  // namespace

std::string RecordedRequest::header(std::string_view name) const {
  std::string found;
  int count = 0;
  for (const auto& [n, v] : headers) {
    if (n == name) {
      found = v;
      ++count;
    }
  }
  EXPECT_LE(count, 1) << "header sent more than once: " << name;
  return found;
}

TestHttpServer::TestHttpServer(Handler handler, ServerMode mode) : handler_(std::move(handler)), mode_(mode) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  port_ = bind_loopback(listen_fd_);
  EXPECT_EQ(::listen(listen_fd_, 8), 0);
  EXPECT_EQ(::pipe2(stop_pipe_, O_CLOEXEC), 0);
  thread_ = std::thread([this] { run(); });
}

TestHttpServer::~TestHttpServer() {
  EXPECT_EQ(::write(stop_pipe_[1], "x", 1), 1);
  thread_.join();
  ::close(listen_fd_);
  ::close(stop_pipe_[0]);
  ::close(stop_pipe_[1]);
}

std::vector<RecordedRequest> TestHttpServer::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

int TestHttpServer::connections() const {
  std::lock_guard lock(mu_);
  return connections_;
}

// Blocks until `fd` is readable or the server is told to stop; no timeout is
// needed because the destructor always signals the stop pipe.
bool TestHttpServer::wait_readable(int fd) {
  pollfd fds[2] = {{fd, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
  while (::poll(fds, 2, -1) < 0) {
  }
  return (fds[1].revents & POLLIN) == 0;
}

void TestHttpServer::run() {
  while (wait_readable(listen_fd_)) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    {
      std::lock_guard lock(mu_);
      ++connections_;
    }
    serve(fd);
    ::close(fd);
  }
}

void TestHttpServer::serve(int fd) {
  if (mode_ == ServerMode::not_tls) {
    send_all(fd, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    return;
  }
  std::string buf;
  char chunk[16 * 1024];
  while (wait_readable(fd)) {
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return;  // client closed
    if (mode_ == ServerMode::never_answer) continue;
    buf.append(chunk, static_cast<std::size_t>(n));
    RecordedRequest request;
    while (const std::size_t used = parse_request(buf, request)) {
      buf.erase(0, used);
      const Reply reply = handler_(request);
      {
        std::lock_guard lock(mu_);
        requests_.push_back(request);
      }
      send_all(fd, "HTTP/1.1 " + std::to_string(reply.status) +
                       " X\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(reply.body.size()) +
                       "\r\n\r\n" + reply.body);
    }
  }
}

RefusingPort::RefusingPort() {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  port_ = bind_loopback(fd_);
}

RefusingPort::~RefusingPort() { ::close(fd_); }

}  // namespace camproxy::auth::test
