#pragma once
// One byte stream (TCP or unix socket, optionally TLS) on a worker loop, with bounded writes.
//
// Reads land in a per-thread scratch buffer and are handed to the Events sink at once, so an
// idle connection holds no read buffer. Writes try the socket first (uv_try_write); only what
// the kernel did not take is copied into this transport's queue. Callers apply back-pressure:
// stop reading the source while the destination has_pending_writes(), resume on on_drained().
//
// Lifetime (libuv rules): the owner calls close() once it is done; on_closed() fires from the
// close callback, after which the owner may free the Transport. close() is idempotent.
#include <openssl/ssl.h>
#include <uv.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace camproxy::proxy {

class Transport {
 public:
  class Events {
   public:
    virtual void on_data(Transport& t, std::span<const uint8_t> data) = 0;
    virtual void on_drained(Transport& t) = 0;
    // The stream ended: UV_EOF for an orderly close by the peer, another UV_* code or
    // kTlsError for failures; `detail` is a readable reason.
    virtual void on_error(Transport& t, int code, const std::string& detail) = 0;
    virtual void on_tls_ready(Transport& t) = 0;
    virtual void on_closed(Transport& t) = 0;

   protected:
    ~Events() = default;
  };

  static constexpr int kTlsError = -100000;

  explicit Transport(Events& events) : events_(events) {}
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;
  ~Transport();

  int init_tcp(uv_loop_t* loop);
  int init_pipe(uv_loop_t* loop);
  uv_stream_t* stream() { return &handle_.stream; }
  uv_tcp_t* tcp() { return &handle_.tcp; }
  uv_pipe_t* pipe() { return &handle_.pipe; }

  void start_reading();
  void stop_reading();

  // Plaintext in; encrypted first when TLS is on.
  void write(std::span<const uint8_t> data);
  bool has_pending_writes() const { return !inflight_.empty(); }

  // Takes ownership of `ssl` (already configured for its role). Bytes that arrived before
  // TLS started (e.g. in the same read as an SSLRequest) are fed to TLS, never treated as
  // plaintext: spec/mysql-protocol.md §2.3.
  void start_tls(SSL* ssl, std::span<const uint8_t> early_bytes);
  bool tls_on() const { return ssl_ != nullptr; }
  SSL* ssl() const { return ssl_; }

  void close();
  bool is_closing() const { return state_ == State::closing || state_ == State::closed; }

  uint64_t bytes_in() const { return bytes_in_; }
  uint64_t bytes_out() const { return bytes_out_; }

 private:
  enum class State { uninit, open, closing, closed };

  static void on_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_write_done(uv_write_t* req, int status);
  static void on_close_done(uv_handle_t* h);

  void write_raw(std::span<const uint8_t> data);
  void start_inflight_write();
  void feed_tls(std::span<const uint8_t> cipher);
  bool flush_tls();
  void fail(int code, const std::string& detail);

  Events& events_;
  union Handle {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } handle_{};
  State state_ = State::uninit;
  bool reading_ = false;
  bool failed_ = false;
  uv_write_t write_req_{};
  std::vector<uint8_t> inflight_;  // owned by the running uv_write
  std::vector<uint8_t> queued_;    // appended while a write is in flight
  SSL* ssl_ = nullptr;
  BIO* rbio_ = nullptr;  // ciphertext from the peer (owned by ssl_)
  BIO* wbio_ = nullptr;  // ciphertext to the peer (owned by ssl_)
  bool tls_handshake_done_ = false;
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
};

}  // namespace camproxy::proxy
