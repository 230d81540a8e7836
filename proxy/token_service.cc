#include "proxy/token_service.h"

#include "proxy/log.h"

namespace camproxy::proxy {

struct TokenService::Fetch {
  uv_work_t req{};
  TokenService* service;
  std::string account;
  auth::CamClient* client;
  std::optional<auth::CamResult> result;
};

TokenService::TokenService(uv_loop_t* control_loop, const Config& config, auth::Credential credential,
                           std::function<void()> on_published)
    : loop_(control_loop), config_(config), credential_(std::move(credential)), on_published_(std::move(on_published)) {}

TokenService::~TokenService() = default;

bool TokenService::start(std::string& error) {
  auth::CamClientOptions probe;
  probe.endpoint = config_.cam_endpoint;
  probe.ca_file = config_.cam_ca_file;
  probe.timeout = config_.cam_timeout;
  if (auto c = auth::CamClient::create(probe); !c) {
    error = "--cam-endpoint/--cam-ca-file: " + c.error().message();
    return false;
  }
  uv_async_init(loop_, &wake_, on_wake);
  wake_.data = this;
  started_ = true;
  return true;
}

void TokenService::close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  if (started_) uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
}

std::shared_ptr<const TokenState> TokenService::current(const std::string& account) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(account);
  return it == entries_.end() ? nullptr : it->second.state;
}

void TokenService::request(const std::string& account, uint64_t seen_generation) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    Entry& e = entries_[account];
    if (e.in_flight || (e.state && e.state->generation > seen_generation)) return;
    e.in_flight = true;
    pending_.push_back(account);
  }
  uv_async_send(&wake_);
}

void TokenService::on_wake(uv_async_t* async) { static_cast<TokenService*>(async->data)->start_pending_fetches(); }

void TokenService::start_pending_fetches() {
  std::vector<std::string> accounts;
  {
    std::lock_guard lock(mu_);
    accounts.swap(pending_);
  }
  for (auto& account : accounts) {
    auth::CamClient* client = nullptr;
    {
      std::lock_guard lock(mu_);
      Entry& e = entries_[account];
      if (!e.client) {
        auth::CamClientOptions opts;
        opts.endpoint = config_.cam_endpoint;
        opts.ca_file = config_.cam_ca_file;
        opts.timeout = config_.cam_timeout;
        auto created = auth::CamClient::create(std::move(opts));
        if (created) e.client = std::move(*created);
      }
      client = e.client.get();
    }
    auto* fetch = new Fetch{{}, this, account, client, std::nullopt};
    fetch->req.data = fetch;
    log_debug("cam_fetch_start", {{"account", account}});
    uv_queue_work(loop_, &fetch->req, run_fetch, after_fetch);
  }
}

// Thread pool: the blocking HTTPS call, off every event loop.
void TokenService::run_fetch(uv_work_t* req) {
  auto* f = static_cast<Fetch*>(req->data);
  const Config& c = f->service->config_;
  if (f->client == nullptr) {
    f->result = tl::unexpected(auth::CamError{std::string(auth::client_error::kEndpoint),
                                              "the CAM endpoint is not usable", "", auth::ErrorClass::retryable, 0});
    return;
  }
  f->result = f->client->fetch(f->service->credential_, auth::TokenRequest{c.instance_id, c.region, f->account});
}

void TokenService::after_fetch(uv_work_t* req, int) {
  std::unique_ptr<Fetch> f(static_cast<Fetch*>(req->data));
  f->service->publish(f->account, std::move(*f->result));
}

void TokenService::publish(const std::string& account, auth::CamResult result) {
  auto now = std::chrono::steady_clock::now();
  auto next = std::make_shared<TokenState>();
  {
    std::lock_guard lock(mu_);
    Entry& e = entries_[account];
    e.in_flight = false;
    next->generation = e.state ? e.state->generation + 1 : 1;
    if (result) {
      next->password = std::make_shared<const auth::SecretString>(std::move(result->password));
      next->expires_at = now + std::chrono::milliseconds(result->lifetime_ms);
    } else {
      // A transient failure keeps a still-valid token serving; a user-notification error
      // (spec/tencentcloud-cam.md §6.1) drops it.
      if (e.state && e.state->usable(now) && result.error().error_class == auth::ErrorClass::retryable) {
        next->password = e.state->password;
        next->expires_at = e.state->expires_at;
      }
      next->error = result.error();
    }
    e.state = next;
    if (closed_) return;
  }
  if (result) {
    log_info("cam_token_fetched", {{"account", account},
                                   {"lifetime_ms", static_cast<int64_t>(result->lifetime_ms)},
                                   {"request_id", result->request_id},
                                   {"rotation_status", result->rotation_status}});
    if (result->rotation_status == "failed")
      log_warn("cam_rotation_failed", {{"account", account}, {"message", result->rotation_message}});
  } else {
    const auth::CamError& err = result.error();
    log_warn("cam_token_failed", {{"account", account},
                                  {"code", err.code},
                                  {"message", err.message},
                                  {"request_id", err.request_id},
                                  {"class", auth::to_string(err.error_class)},
                                  {"http_status", err.http_status}});
  }
  on_published_();
}

}  // namespace camproxy::proxy
