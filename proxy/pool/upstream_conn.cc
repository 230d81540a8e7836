#include "proxy/pool/upstream_conn.h"

#include <arpa/inet.h>

#include <cstring>
#include <utility>

#include "protocol/constants.h"
#include "proxy/net/packet_out.h"
#include "proxy/net/tls.h"
#include "proxy/ops/log.h"
#include "proxy/ops/metrics.h"

namespace camproxy::proxy {
namespace {

// What camproxy reads from the database itself (not relayed): the login (greeting, auth data,
// OK/ERR) and the replies to its own commands. Larger than protocol::kMaxLoginPacket, the bound
// on an unauthenticated client: an OK may carry session-state information (§4.5).
constexpr size_t kMaxUpstreamControlPacket = 64 * 1024;

// What the login machine may do with the token (issue 17): it goes itself only inside TLS that
// verified the database, or encrypted with the key the operator gave.
protocol::ClientAuth::Policy login_policy(const UpstreamConn::Settings& settings) {
  const TargetConfig& c = *settings.config;
  const auto mode = c.upstream_tls;
  return {.tls_available = settings.tls_ctx != nullptr,
          .tls_required = mode != UpstreamTlsMode::disable && mode != UpstreamTlsMode::insecure_preferred,
          .tls_verified = settings.tls_ctx != nullptr && verifies_server(mode),
          .rsa_public_key = c.upstream_rsa_public_key};
}

}  // namespace

std::string_view to_string(UpstreamFailure::Kind kind) {
  switch (kind) {
    case UpstreamFailure::Kind::connect: return "connect";
    case UpstreamFailure::Kind::timeout: return "timeout";
    case UpstreamFailure::Kind::tls: return "tls";
    case UpstreamFailure::Kind::protocol: return "protocol";
    case UpstreamFailure::Kind::server_error: return "server_error";
    case UpstreamFailure::Kind::unsafe_auth: return "unsafe_auth";
    case UpstreamFailure::Kind::closed: return "closed";
  }
  return "unknown";
}

UpstreamConn* UpstreamConn::create(uv_loop_t* loop, const Settings& settings, Owner* owner) {
  return new UpstreamConn(loop, settings, owner);
}

UpstreamConn::UpstreamConn(uv_loop_t* loop, const Settings& settings, Owner* owner)
    : loop_(loop),
      settings_(settings),
      owner_(owner),
      transport_(*this),
      inbox_(kMaxUpstreamControlPacket),
      auth_(login_policy(settings)) {
  process_metrics().gauge(MetricId::upstream_connections_open).add();
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
}

UpstreamConn::~UpstreamConn() { process_metrics().gauge(MetricId::upstream_connections_open).sub(); }

void UpstreamConn::arm_timer() {
  uv_timer_start(&timer_, on_timeout, static_cast<uint64_t>(settings_.config->connect_timeout.count()), 0);
}

void UpstreamConn::connect() {
  const HostPort& up = settings_.config->upstream;
  process_metrics().counter(MetricId::upstream_dials).inc();
  dial_started_ = std::chrono::steady_clock::now();
  arm_timer();
  sockaddr_storage addr{};
  if (uv_ip4_addr(up.host.c_str(), up.port, reinterpret_cast<sockaddr_in*>(&addr)) == 0 ||
      uv_ip6_addr(up.host.c_str(), up.port, reinterpret_cast<sockaddr_in6*>(&addr)) == 0) {
    start_connect(reinterpret_cast<const sockaddr*>(&addr));
    return;
  }
  // Host names resolve on the loop's thread pool, never blocking the worker.
  state_ = State::resolving;
  resolving_ = true;
  resolve_req_.data = this;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int rc = uv_getaddrinfo(loop_, &resolve_req_, on_resolved, up.host.c_str(), std::to_string(up.port).c_str(), &hints);
  if (rc != 0) {
    resolving_ = false;
    fail(UpstreamFailure::Kind::connect, "cannot resolve " + up.host + ": " + uv_strerror(rc));
  }
}

void UpstreamConn::on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res) {
  auto* self = static_cast<UpstreamConn*>(req->data);
  self->resolving_ = false;
  if (self->state_ == State::closing) {
    uv_freeaddrinfo(res);
    self->maybe_delete();
    return;
  }
  if (status != 0 || res == nullptr) {
    self->fail(UpstreamFailure::Kind::connect,
               "cannot resolve " + self->settings_.config->upstream.host + ": " + uv_strerror(status));
  } else {
    self->start_connect(res->ai_addr);
  }
  uv_freeaddrinfo(res);
}

void UpstreamConn::start_connect(const sockaddr* addr) {
  state_ = State::connecting;
  int rc = transport_.init_tcp(loop_);
  if (rc == 0) {
    uv_tcp_nodelay(transport_.tcp(), 1);
    connect_req_.data = this;
    rc = uv_tcp_connect(&connect_req_, transport_.tcp(), addr, on_connected);
  }
  if (rc != 0) fail(UpstreamFailure::Kind::connect, std::string("connect failed: ") + uv_strerror(rc));
}

void UpstreamConn::on_connected(uv_connect_t* req, int status) {
  if (status == UV_ECANCELED) return;  // closing
  auto* self = static_cast<UpstreamConn*>(req->data);
  if (status != 0) {
    self->fail(UpstreamFailure::Kind::connect, std::string("connect failed: ") + uv_strerror(status));
    return;
  }
  self->state_ = State::handshake;
  self->transport_.start_reading();
}

void UpstreamConn::on_timeout(uv_timer_t* t) {
  auto* self = static_cast<UpstreamConn*>(t->data);
  self->fail(UpstreamFailure::Kind::timeout,
             "no answer within " + std::to_string(self->settings_.config->connect_timeout.count()) + " ms");
}

void UpstreamConn::on_data(Transport&, std::span<const uint8_t> data) {
  if (state_ == State::ready) {
    owner_->on_upstream_data(*this, data);
    return;
  }
  inbox_.append(data);
  if (state_ == State::commands) {
    read_command_replies();
    return;
  }
  read_login_packets();
  if (state_ != State::ready) {
    if (!inbox_.empty() && auth_.state() != protocol::ClientAuth::State::tls)
      fail(UpstreamFailure::Kind::protocol, "unexpected bytes from the server during login");
    return;
  }
  // Anything the server sent right after its OK belongs to the relay.
  auto rest = inbox_.take_rest();
  inbox_.release();
  if (!rest.empty()) owner_->on_upstream_data(*this, rest);
}

void UpstreamConn::read_login_packets() {
  while ((state_ == State::handshake || state_ == State::reauth) && auth_.wants_packet()) {
    auto packet = inbox_.next();
    if (!packet) {
      if (packet.error() != protocol::ProtoErr::need_more)
        fail(UpstreamFailure::Kind::protocol, "bad packet during login: " + packet.error().message());
      return;
    }
    apply(auth_.feed(packet->payload, packet->last_seq_id));
  }
}

// Does what the login machine asks for.
void UpstreamConn::apply(const protocol::ClientAuthStep& step) {
  using Step = protocol::ClientAuthStep::Kind;
  switch (step.kind) {
    case Step::send:
      if (step.secret) {
        send_secret_packet(transport_, step.seq, step.payload);
      } else {
        send_packet(transport_, step.seq, step.payload);
      }
      return;
    case Step::start_tls:
      send_packet(transport_, step.seq, step.payload);
      start_tls();
      return;
    case Step::read: return;
    case Step::greeted:
      uv_timer_stop(&timer_);
      transport_.stop_reading();
      owner_->on_upstream_greeting(*this);
      return;
    case Step::done:
      uv_timer_stop(&timer_);
      if (state_ == State::handshake)
        process_metrics()
            .histogram(MetricId::upstream_dial_duration)
            .observe(std::chrono::steady_clock::now() - dial_started_);
      state_ = State::ready;
      password_.reset();
      owner_->on_upstream_ready(*this, step.payload);
      return;
    case Step::failed: {
      using Why = protocol::ClientAuthFailure::Kind;
      const Why why = step.failure.kind;
      const auto kind = why == Why::server_error  ? UpstreamFailure::Kind::server_error
                        : why == Why::tls         ? UpstreamFailure::Kind::tls
                        : why == Why::unsafe_auth ? UpstreamFailure::Kind::unsafe_auth
                                                  : UpstreamFailure::Kind::protocol;
      fail(kind, step.failure.message, step.failure.code, step.failure.sql_state);
      return;
    }
  }
}

void UpstreamConn::login(UpstreamLogin params) {
  arm_timer();
  transport_.start_reading();
  password_ = std::move(params.password);
  apply(auth_.start({std::move(params.user), params.capabilities, params.collation, std::move(params.database),
                     std::move(params.attrs), params.max_packet_size, params.mariadb_capabilities},
                    password_->bytes()));
}

void UpstreamConn::start_tls() {
  SSL* ssl = SSL_new(settings_.tls_ctx);
  if (ssl == nullptr ||
      !configure_upstream_ssl(ssl, settings_.config->upstream_tls, settings_.config->upstream_server_name)) {
    if (ssl) SSL_free(ssl);
    fail(UpstreamFailure::Kind::tls, "cannot set up TLS: " + last_ssl_error());
    return;
  }
  SSL_set_connect_state(ssl);
  transport_.start_tls(ssl, {});
}

void UpstreamConn::on_tls_ready(Transport&) {
  if (state_ == State::handshake && auth_.state() == protocol::ClientAuth::State::tls) apply(auth_.tls_ready());
}

void UpstreamConn::change_user(std::shared_ptr<const auth::SecretString> password) {
  password_ = std::move(password);
  statements_.clear();  // the server drops every prepared statement (§5.2)
  state_ = State::reauth;
  auto step = auth_.change_user(password_->bytes());
  arm_timer();
  apply(step);
  transport_.start_reading();
}

void UpstreamConn::run_commands(const std::vector<InternalCommand>& commands) {
  state_ = State::commands;
  replies_.emplace(auth_.capabilities(), commands);
  // One write for the whole pipeline: each command starts its own sequence at 0.
  static thread_local std::vector<uint8_t> frames;
  frames.clear();
  for (const auto& cmd : commands) {
    protocol::encode_packet(cmd.payload, 0, frames);
    if (!cmd.payload.empty() && cmd.payload[0] == static_cast<uint8_t>(protocol::Command::reset_connection))
      statements_.clear();  // the server drops every prepared statement (§5.1)
  }
  arm_timer();
  transport_.write(frames);
  transport_.start_reading();
}

void UpstreamConn::read_command_replies() {
  while (state_ == State::commands) {
    auto packet = inbox_.next();
    if (!packet) {
      if (packet.error() != protocol::ProtoErr::need_more)
        fail(UpstreamFailure::Kind::protocol, "bad reply to camproxy's command: " + packet.error().message());
      return;
    }
    switch (replies_->on_packet(packet->payload)) {
      case ReplyReader::Step::more: break;
      case ReplyReader::Step::malformed:
        fail(UpstreamFailure::Kind::protocol, "malformed reply to camproxy's command");
        return;
      case ReplyReader::Step::done: {
        uv_timer_stop(&timer_);
        state_ = State::ready;
        const bool relay_behind = std::exchange(relay_behind_commands_, false);
        if (!inbox_.empty() && !relay_behind) {
          fail(UpstreamFailure::Kind::protocol, "unexpected bytes after camproxy's commands");
          return;
        }
        auto results = replies_->results();
        replies_.reset();
        const std::vector<uint8_t> rest = relay_behind ? inbox_.take_rest() : std::vector<uint8_t>{};
        owner_->on_upstream_commands_done(*this, results);
        // The owner may have closed this connection (a failed hand-over: rest is not to be relayed).
        if (!rest.empty() && state_ == State::ready) owner_->on_upstream_data(*this, rest);
        return;
      }
    }
  }
}

void UpstreamConn::write(std::span<const uint8_t> data) {
  if (state_ == State::commands) relay_behind_commands_ = true;
  transport_.write(data);
}

void UpstreamConn::on_drained(Transport&) {
  // Client bytes written behind camproxy's commands drained: the owner reads its client again.
  if (state_ == State::ready || (state_ == State::commands && relay_behind_commands_))
    owner_->on_upstream_drained(*this);
}

void UpstreamConn::on_error(Transport&, int code, const std::string& detail) {
  if (state_ == State::ready || state_ == State::commands) {
    state_ = State::failed;
    owner_->on_upstream_failed(*this, {UpstreamFailure::Kind::closed, 0, {}, detail});
    return;
  }
  if (code == Transport::kTlsError) {
    fail(UpstreamFailure::Kind::tls, detail);
  } else if (state_ == State::connecting) {
    fail(UpstreamFailure::Kind::connect, detail);
  } else {
    // A database going down (killed, restarting) drops logins in flight: an outage, not a
    // protocol problem (issue 7 chaos tests; the client gets 9001, the dial counts as connect).
    fail(UpstreamFailure::Kind::closed, "the server closed the connection during login (" + detail + ")");
  }
}

void UpstreamConn::fail(UpstreamFailure::Kind kind, std::string message, uint16_t code, std::string sql_state) {
  if (state_ == State::failed || state_ == State::closing) return;
  // A dial or login that did not make it (a refused CHANGE_USER is counted by its owner).
  if (state_ != State::ready && state_ != State::commands && state_ != State::reauth) {
    DialFailure reason = DialFailure::protocol;
    switch (kind) {
      case UpstreamFailure::Kind::connect:
        reason = state_ == State::resolving ? DialFailure::dns : DialFailure::connect;
        break;
      case UpstreamFailure::Kind::closed: reason = DialFailure::connect; break;
      case UpstreamFailure::Kind::timeout: reason = DialFailure::timeout; break;
      case UpstreamFailure::Kind::tls:
      case UpstreamFailure::Kind::unsafe_auth: reason = DialFailure::tls; break;
      case UpstreamFailure::Kind::server_error: reason = DialFailure::auth; break;
      default: break;
    }
    process_metrics().counter(MetricId::upstream_dial_failures, reason).inc();
  }
  state_ = State::failed;
  uv_timer_stop(&timer_);
  transport_.stop_reading();
  owner_->on_upstream_failed(*this, UpstreamFailure{kind, code, std::move(sql_state), std::move(message)});
}

void UpstreamConn::close() {
  if (state_ == State::closing) return;
  state_ = State::closing;
  owner_ = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_timer_closed);
  if (resolving_) uv_cancel(reinterpret_cast<uv_req_t*>(&resolve_req_));
  transport_.close();
}

void UpstreamConn::quit() {
  if (state_ == State::ready && !transport_.has_pending_writes()) {
    const uint8_t quit = static_cast<uint8_t>(protocol::Command::quit);
    send_packet(transport_, 0, {&quit, 1});
  }
  close();
}

void UpstreamConn::on_timer_closed(uv_handle_t* h) {
  auto* self = static_cast<UpstreamConn*>(h->data);
  self->timer_closed_ = true;
  self->maybe_delete();
}

void UpstreamConn::on_closed(Transport&) {
  transport_closed_ = true;
  maybe_delete();
}

void UpstreamConn::maybe_delete() {
  if (timer_closed_ && transport_closed_ && !resolving_) delete this;
}

}  // namespace camproxy::proxy
