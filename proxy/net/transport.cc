#include "proxy/net/transport.h"

#include <openssl/err.h>

#include <array>
#include <cassert>

#include "proxy/net/tls.h"

namespace camproxy::proxy {
namespace {

// Per-thread scratch space: each worker loop runs on one thread and processes a read to the
// end before the next one, so one buffer of each kind per thread serves every connection.
constexpr size_t kScratchSize = 64 * 1024;
thread_local std::array<uint8_t, kScratchSize> t_read_scratch;
thread_local std::array<uint8_t, kScratchSize> t_plain_scratch;
thread_local std::array<uint8_t, kScratchSize> t_cipher_scratch;

// A queue that grew under back-pressure gives its memory back once drained, so idle
// connections stay small.
constexpr size_t kKeepQueueCapacity = 16 * 1024;

}  // namespace

Transport::~Transport() {
  assert(state_ == State::uninit || state_ == State::closed);
  if (ssl_ != nullptr) SSL_free(ssl_);
}

int Transport::init_tcp(uv_loop_t* loop) {
  int rc = uv_tcp_init(loop, &handle_.tcp);
  if (rc == 0) {
    handle_.handle.data = this;
    state_ = State::open;
    uring_ = UringLoop::of(loop);
  }
  return rc;
}

int Transport::init_pipe(uv_loop_t* loop) {
  int rc = uv_pipe_init(loop, &handle_.pipe, 0);
  if (rc == 0) {
    handle_.handle.data = this;
    state_ = State::open;
    uring_ = UringLoop::of(loop);
  }
  return rc;
}

void Transport::start_reading() {
  if (state_ != State::open || reading_) return;
  if (uring_ != nullptr) {
    uring_start_reading();
    return;
  }
  int rc = uv_read_start(&handle_.stream, on_alloc, on_read);
  if (rc != 0) {
    fail(rc, std::string("read start failed: ") + uv_strerror(rc));
    return;
  }
  reading_ = true;
}

void Transport::stop_reading() {
  if (state_ != State::open || !reading_) return;
  if (uring_ != nullptr) {
    uring_stop_reading();
    return;
  }
  uv_read_stop(&handle_.stream);
  reading_ = false;
}

void Transport::on_alloc(uv_handle_t*, size_t, uv_buf_t* buf) {
  buf->base = reinterpret_cast<char*>(t_read_scratch.data());
  buf->len = t_read_scratch.size();
}

void Transport::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<Transport*>(s->data);
  if (nread == 0) return;  // EAGAIN: nothing to do (libuv docs, stream.rst)
  if (nread < 0) {
    self->fail(static_cast<int>(nread),
               nread == UV_EOF ? "connection closed by peer" : uv_strerror(static_cast<int>(nread)));
    return;
  }
  self->bytes_in_ += static_cast<uint64_t>(nread);
  self->deliver(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(buf->base), static_cast<size_t>(nread)));
}

void Transport::deliver(std::span<const uint8_t> data) {
  if (ssl_ != nullptr) {
    feed_tls(data);
  } else {
    events_.on_data(*this, data);
  }
}

void Transport::write(std::span<const uint8_t> data) {
  if (state_ != State::open || failed_ || data.empty()) return;
  if (ssl_ == nullptr) {
    write_raw(data);
    return;
  }
  // Memory BIOs never return WANT_WRITE, so SSL_write takes everything at once.
  while (!data.empty()) {
    int chunk = static_cast<int>(std::min<size_t>(data.size(), 16384));
    if (SSL_write(ssl_, data.data(), chunk) <= 0) {
      fail(kTlsError, "TLS write failed: " + last_ssl_error());
      return;
    }
    data = data.subspan(static_cast<size_t>(chunk));
  }
  flush_tls();
}

void Transport::write_raw(std::span<const uint8_t> data) {
  bytes_out_ += data.size();
  if (uring_ != nullptr) {
    uring_write(data);
    return;
  }
  if (!inflight_.empty()) {
    queued_.insert(queued_.end(), data.begin(), data.end());
    return;
  }
  uv_buf_t b =
      uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(data.data())), static_cast<unsigned>(data.size()));
  int n = uv_try_write(&handle_.stream, &b, 1);
  // A socket error (the peer reset) is not reported from here: uv_write below meets it again
  // and libuv reports it through on_write_done, from the loop. Callers write and then change
  // their own state; an on_error re-entering them mid-write closed sessions twice.
  if (n < 0) n = 0;
  if (static_cast<size_t>(n) == data.size()) return;
  inflight_.assign(data.begin() + n, data.end());
  start_inflight_write();
}

void Transport::start_inflight_write() {
  write_req_.data = this;
  uv_buf_t b = uv_buf_init(reinterpret_cast<char*>(inflight_.data()), static_cast<unsigned>(inflight_.size()));
  int rc = uv_write(&write_req_, &handle_.stream, &b, 1, on_write_done);
  if (rc != 0) {
    inflight_.clear();
    fail(rc, std::string("write failed: ") + uv_strerror(rc));
  }
}

void Transport::on_write_done(uv_write_t* req, int status) {
  auto* self = static_cast<Transport*>(req->data);
  if (status == UV_ECANCELED) return;  // closing: the close callback follows
  self->inflight_.clear();
  if (status < 0) {
    self->queued_.clear();
    self->fail(status, std::string("write failed: ") + uv_strerror(status));
    return;
  }
  if (!self->queued_.empty()) {
    std::swap(self->inflight_, self->queued_);
    self->start_inflight_write();
    return;
  }
  if (self->inflight_.capacity() > kKeepQueueCapacity) std::vector<uint8_t>().swap(self->inflight_);
  if (self->queued_.capacity() > kKeepQueueCapacity) std::vector<uint8_t>().swap(self->queued_);
  self->events_.on_drained(*self);
}

void Transport::start_tls(SSL* ssl, std::span<const uint8_t> early_bytes) {
  assert(ssl_ == nullptr);
  ssl_ = ssl;
  rbio_ = BIO_new(BIO_s_mem());
  wbio_ = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(rbio_, -1);
  SSL_set_bio(ssl_, rbio_, wbio_);
  if (!SSL_is_server(ssl_)) {
    int rc = SSL_do_handshake(ssl_);
    if (rc <= 0 && SSL_get_error(ssl_, rc) != SSL_ERROR_WANT_READ) {
      fail(kTlsError, "TLS handshake failed: " + last_ssl_error());
      return;
    }
    if (!flush_tls()) return;
  }
  if (!early_bytes.empty()) feed_tls(early_bytes);
}

void Transport::feed_tls(std::span<const uint8_t> cipher) {
  if (BIO_write(rbio_, cipher.data(), static_cast<int>(cipher.size())) != static_cast<int>(cipher.size())) {
    fail(kTlsError, "TLS buffer error");
    return;
  }
  if (!tls_handshake_done_) {
    int rc = SSL_do_handshake(ssl_);
    if (!flush_tls()) return;
    if (rc <= 0) {
      int err = SSL_get_error(ssl_, rc);
      if (err == SSL_ERROR_WANT_READ) return;
      long verify = SSL_get_verify_result(ssl_);
      std::string why = verify != X509_V_OK
                            ? std::string("certificate verification failed: ") + X509_verify_cert_error_string(verify)
                            : last_ssl_error();
      fail(kTlsError, "TLS handshake failed: " + why);
      return;
    }
    tls_handshake_done_ = true;
    events_.on_tls_ready(*this);
    if (state_ != State::open || failed_) return;
  }
  while (state_ == State::open && !failed_) {
    int n = SSL_read(ssl_, t_plain_scratch.data(), static_cast<int>(t_plain_scratch.size()));
    if (n > 0) {
      events_.on_data(*this, std::span<const uint8_t>(t_plain_scratch.data(), static_cast<size_t>(n)));
      continue;
    }
    int err = SSL_get_error(ssl_, n);
    if (err == SSL_ERROR_WANT_READ) break;
    if (err == SSL_ERROR_ZERO_RETURN) {
      fail(UV_EOF, "connection closed by peer (TLS close_notify)");
    } else {
      fail(kTlsError, "TLS read failed: " + last_ssl_error());
    }
    break;
  }
  flush_tls();  // post-handshake messages (tickets, key updates)
}

bool Transport::flush_tls() {
  while (state_ == State::open && !failed_ && BIO_ctrl_pending(wbio_) > 0) {
    int n = BIO_read(wbio_, t_cipher_scratch.data(), static_cast<int>(t_cipher_scratch.size()));
    if (n <= 0) break;
    write_raw(std::span<const uint8_t>(t_cipher_scratch.data(), static_cast<size_t>(n)));
  }
  return state_ == State::open && !failed_;
}

void Transport::fail(int code, const std::string& detail) {
  if (failed_ || state_ != State::open) return;
  failed_ = true;
  stop_reading();
  events_.on_error(*this, code, detail);
}

void Transport::close() {
  if (state_ == State::uninit) {
    state_ = State::closed;
    events_.on_closed(*this);
    return;
  }
  if (state_ != State::open) return;
  state_ = State::closing;
  reading_ = false;
  if (uring_ != nullptr) {
    uring_close();
    return;
  }
  uv_close(&handle_.handle, on_close_done);
}

void Transport::on_close_done(uv_handle_t* h) {
  auto* self = static_cast<Transport*>(h->data);
  self->state_ = State::closed;
  self->events_.on_closed(*self);
}

}  // namespace camproxy::proxy
