#pragma once
// What a ClientSession needs from its worker and its process, and nothing more: it is passed at
// construction instead of the Worker, so a test can build a session over a fake environment.
// Worker implements it (one per worker thread; every call is made on that thread).
#include <uv.h>

#include <cstdint>
#include <memory>

#include "proxy/config/config.h"
#include "proxy/config/local_users.h"
#include "proxy/pool/collation_names.h"
#include "proxy/pool/upstream_pool.h"
#include "proxy/session/greeting_profile.h"
#include "proxy/session/session_registry.h"
#include "proxy/tokens/token_source.h"

namespace camproxy::proxy {

class ClientSession;

class SessionEnv {
 public:
  virtual ~SessionEnv() = default;

  virtual uv_loop_t* loop() = 0;
  virtual int index() const = 0;  // the worker's, for logs
  virtual const TargetConfig& config() const = 0;
  virtual TokenSource& tokens() = 0;  // the target's TokenService
  virtual UpstreamPool& pool() = 0;
  virtual CollationNames& collations() = 0;
  virtual SessionRegistry& sessions() = 0;
  virtual std::shared_ptr<const LocalUsers> local_users() const = 0;
  virtual SSL_CTX* client_tls() const = 0;    // nullptr: no certificate, TLS not offered
  virtual SSL_CTX* upstream_tls() const = 0;  // nullptr: plaintext to the database
  // The database's greeting mirrored to applications: learnt by the first session, then shared.
  virtual std::shared_ptr<const GreetingProfile> profile() const = 0;
  virtual void set_profile(std::shared_ptr<const GreetingProfile> profile) = 0;
  virtual uint32_t next_connection_id() = 0;
  // Counts a new client as open; false when --max-client-connections clients had logged in
  // already (the client stays counted until client_gone()).
  virtual bool admit_client() = 0;
  virtual void client_gone() = 0;
  // An admitted client's login runs from login_started() to login_finished() (authenticated or
  // closed; a second call does nothing). Logins in progress have a cap of their own
  // (--max-logins-in-progress, shared out among the target's workers) and do not count against
  // --max-client-connections: beyond its share a worker closes its oldest one with
  // ClientSession::crowd_out(), so connections that never log in cannot keep an application out.
  virtual void login_started(ClientSession* s) = 0;
  virtual void login_finished(ClientSession* s) = 0;
  // Sessions waiting for a token snapshot get on_token_published().
  virtual void add_token_waiter(ClientSession* s) = 0;
  virtual void remove_token_waiter(ClientSession* s) = 0;
  virtual void on_session_closed(ClientSession* s) = 0;
};

}  // namespace camproxy::proxy
