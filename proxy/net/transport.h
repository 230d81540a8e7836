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
//
// Two raw-I/O backends, chosen at init from the loop: epoll (libuv reads and writes) or, when
// the loop has a UringLoop, io_uring (transport_uring.cc): a multishot receive into the ring's
// provided buffers, and sends whose buffer this transport owns until their completion. The
// handle still owns the descriptor; it is closed only once no SQE of this transport is in
// flight. TLS, back-pressure and the Events contract are the same on both.
#include <openssl/ssl.h>
#include <uv.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "proxy/net/uring_loop.h"

namespace camproxy::proxy {

class Transport final : private UringLoop::User {
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
  // io_uring: every write waits for the next submit, so only a queue beyond a soft limit counts
  // as pending (else a relay would stop reading after every packet).
  bool has_pending_writes() const;
  bool uses_uring() const { return uring_ != nullptr; }

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
  void deliver(std::span<const uint8_t> data);

  // The io_uring backend (transport_uring.cc).
  void uring_start_reading();
  void uring_stop_reading();
  void uring_write(std::span<const uint8_t> data);
  void uring_close();
  void uring_finish_close();
  void ask_flush();
  void queue_recv(UringLoop& ring);
  void queue_send(UringLoop& ring);
  void on_recv(int res, uint32_t flags, std::span<const uint8_t> data);
  void on_send(int res);
  void deliver_held();
  bool has_held() const { return held_head_ < held_.size(); }
  bool has_unsent_bytes() const { return !inflight_.empty() || !queued_.empty(); }
  void on_completion(UringLoop::Op op, int res, uint32_t flags, std::span<const uint8_t> data) override;
  void on_flush(UringLoop& ring) override;

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

  // io_uring backend state (unused on epoll). inflight_ is the buffer of the send in flight,
  // from inflight_sent_ on; queued_ collects writes until the next submit.
  UringLoop* uring_ = nullptr;
  size_t inflight_sent_ = 0;
  int ops_ = 0;                  // SQEs of this transport not yet finished (last CQE seen)
  bool recv_armed_ = false;      // a multishot receive is in flight
  bool recv_cancelled_ = false;  // ... and a cancel for it has been queued
  bool send_armed_ = false;      // a send of inflight_ is in flight
  bool flush_asked_ = false;     // on the ring's flush list
  bool cancel_all_sent_ = false;
  bool drained_owed_ = false;  // has_pending_writes() was true: on_drained once empty
  std::vector<uint8_t> held_;  // received while reading was stopped, delivered up to held_head_
  size_t held_head_ = 0;
  int held_error_ = 0;  // EOF or error seen while reading was stopped
};

}  // namespace camproxy::proxy
