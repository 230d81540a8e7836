#include "proxy/ops/metrics.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "proxy/ops/exposition.h"
#include "proxy/ops/version.h"

namespace camproxy::proxy {
namespace {

using namespace exposition;

using T = MetricType;
using S = MetricSource;

template <class E>
constexpr std::array<std::string_view, 1> kFixedName = {FixedLabel<E>::kName};
constexpr std::array<std::string_view, 3> kBuildLabels = {"version", "openssl", "libuv"};
// Two targets may use accounts of the same name on different instances.
constexpr std::array<std::string_view, 2> kTargetAccount = {"target", "account"};
constexpr std::array<std::string_view, 1> kTarget = {"target"};
constexpr std::array<std::string_view, 1> kDataPathLabel = {"path"};

template <class E>
constexpr std::span<const LabelValue> values_of() {
  return FixedLabel<E>::kValues;
}

// The one declaration of every metric (issue 5's list). Names follow the Prometheus
// conventions: base units (seconds, bytes), counters end in _total.
constexpr std::array<MetricSpec, kMetricCount> kTable = {{
    {MetricId::build_info,
     "camproxy_build_info",
     T::gauge,
     S::scrape,
     "Always 1; the labels name the camproxy version and the OpenSSL and libuv libraries in use.",
     kBuildLabels,
     {}},
    {MetricId::process_start_time,
     "camproxy_process_start_time_seconds",
     T::gauge,
     S::scrape,
     "Start time of the process since the Unix epoch, in seconds.",
     {},
     {}},
    {MetricId::client_connections_open,
     "camproxy_client_connections_open",
     T::gauge,
     S::cells,
     "Client connections open now, from accept to close (logging in or relaying).",
     {},
     {}},
    {MetricId::client_connections_total,
     "camproxy_client_connections_total",
     T::counter,
     S::cells,
     "Client connections accepted.",
     {},
     {}},
    {MetricId::client_connections_failed, "camproxy_client_connections_failed_total", T::counter, S::cells,
     "Client connections that ended before their login completed, by reason.", kFixedName<ClientFailure>,
     values_of<ClientFailure>()},
    {MetricId::client_handshake_duration,
     "camproxy_client_handshake_duration_seconds",
     T::histogram,
     S::cells,
     "Time from accepting a client connection to sending it the OK of its login (successful logins).",
     {},
     {}},
    {MetricId::client_errors, "camproxy_client_errors_total", T::counter, S::cells,
     "ERR packets camproxy itself sent to applications (not the database's errors it relays), by MySQL error code.",
     kFixedName<ClientErrCode>, values_of<ClientErrCode>()},
    {MetricId::accept_pauses, "camproxy_accept_pauses_total", T::counter, S::cells,
     "Times a listener stopped accepting for 100 ms because the process or the system ran out of descriptors or "
     "socket memory; the waiting clients stay in the kernel's backlog, none is dropped.",
     kFixedName<AcceptPause>, values_of<AcceptPause>()},
    {MetricId::upstream_connections_open,
     "camproxy_upstream_connections_open",
     T::gauge,
     S::cells,
     "Upstream connections open now: dialling, serving a client or idle in the pool.",
     {},
     {}},
    {MetricId::upstream_connections_idle,
     "camproxy_upstream_connections_idle",
     T::gauge,
     S::cells,
     "Upstream connections logged in and idle in the pool.",
     {},
     {}},
    {MetricId::upstream_dials,
     "camproxy_upstream_dials_total",
     T::counter,
     S::cells,
     "Upstream connections dialled (TCP connect, TLS and login).",
     {},
     {}},
    {MetricId::upstream_dial_failures, "camproxy_upstream_dial_failures_total", T::counter, S::cells,
     "Upstream dials that failed, by reason.", kFixedName<DialFailure>, values_of<DialFailure>()},
    {MetricId::upstream_dial_duration,
     "camproxy_upstream_dial_duration_seconds",
     T::histogram,
     S::cells,
     "Time from starting an upstream dial to the database's OK of the login (successful dials).",
     {},
     {}},
    {MetricId::upstream_reuses,
     "camproxy_upstream_reuses_total",
     T::counter,
     S::cells,
     "Client sessions given an idle pooled upstream connection instead of a new dial.",
     {},
     {}},
    {MetricId::upstream_auth_retries,
     "camproxy_upstream_auth_retries_total",
     T::counter,
     S::cells,
     "Upstream logins answered 1045 with the current token and retried once with a freshly fetched one.",
     {},
     {}},
    {MetricId::upstream_disconnects, "camproxy_upstream_disconnects_total", T::counter, S::cells,
     "Upstream connections lost under a client session, by what camproxy did about it.", kFixedName<UpstreamLoss>,
     values_of<UpstreamLoss>()},
    {MetricId::pool_cleanups, "camproxy_pool_cleanups_total", T::counter, S::cells,
     "Upstream connections a client left that were cleaned and put back in the pool, by the command that "
     "cleaned them.",
     kFixedName<PoolCleanup>, values_of<PoolCleanup>()},
    {MetricId::pool_closes, "camproxy_pool_closes_total", T::counter, S::cells,
     "Upstream connections the pool closed instead of keeping or handing out, by reason.", kFixedName<PoolClose>,
     values_of<PoolClose>()},
    {MetricId::pool_waiting_clients,
     "camproxy_pool_waiting_clients",
     T::gauge,
     S::cells,
     "Client sessions waiting now for a pooled connection of their key that is being cleaned after its last client.",
     {},
     {}},
    {MetricId::pool_wait_duration,
     "camproxy_pool_wait_duration_seconds",
     T::histogram,
     S::cells,
     "Time client sessions waited for a pooled connection being cleaned, until it came back (or, after "
     "--connect-timeout or when it was closed instead, until the session dialled its own).",
     {},
     {}},
    {MetricId::pool_pins, "camproxy_pool_pins_total", T::counter, S::cells,
     "Times a session in --pool-mode transaction kept its database connection after a command instead of "
     "sharing it, by the first reason (counted when the pin starts).",
     kFixedName<PinReason>, values_of<PinReason>()},
    {MetricId::pool_pinned_sessions,
     "camproxy_pool_pinned_sessions",
     T::gauge,
     S::cells,
     "Sessions in --pool-mode transaction pinned to their database connection now (camproxy_pool_pins_total "
     "says why).",
     {},
     {}},
    {MetricId::pool_shared_sessions,
     "camproxy_pool_shared_sessions",
     T::gauge,
     S::cells,
     "Sessions in --pool-mode transaction holding no database connection now (between commands); beside "
     "camproxy_client_connections_open and camproxy_upstream_connections_open it shows the sharing.",
     {},
     {}},
    {MetricId::pool_borrow_waiting,
     "camproxy_pool_borrow_waiting",
     T::gauge,
     S::scrape,
     "Clients waiting now in the target's borrow queue: --pool-max connections are open and none is idle for them.",
     kTarget,
     {}},
    {MetricId::pool_borrow_wait_duration,
     "camproxy_pool_borrow_wait_seconds",
     T::histogram,
     S::cells,
     "Time clients waited in the borrow queue, until a connection was free for them, they gave up "
     "(--pool-borrow-timeout) or they went away.",
     {},
     {}},
    {MetricId::pool_borrow_timeouts,
     "camproxy_pool_borrow_timeouts_total",
     T::counter,
     S::cells,
     "Clients that waited --pool-borrow-timeout in the borrow queue without a connection (error 9008).",
     {},
     {}},
    {MetricId::pool_reprepares,
     "camproxy_pool_reprepares_total",
     T::counter,
     S::cells,
     "Server-side prepared statements camproxy prepared again on another database connection in --pool-mode "
     "transaction, before a command of the client that named them.",
     {},
     {}},
    {MetricId::target_upstream_connections,
     "camproxy_target_upstream_connections",
     T::gauge,
     S::scrape,
     "Database connections the target holds now (in sessions, idle, being cleaned or warming; --pool-max bounds "
     "them), beside camproxy_target_client_connections: the sharing ratio.",
     kTarget,
     {}},
    {MetricId::target_client_connections,
     "camproxy_target_client_connections",
     T::gauge,
     S::scrape,
     "Client connections the target serves now (logging in or logged in).",
     kTarget,
     {}},
    {MetricId::login_upstream_waits, "camproxy_login_upstream_waits_total", T::counter, S::cells,
     "Client logins that waited for the database before their OK because no pooled connection was ready for "
     "them as they were, by the first reason (a login served at once from the pool is not counted).",
     kFixedName<LoginWaitReason>, values_of<LoginWaitReason>()},
    {MetricId::login_upstream_wait_duration,
     "camproxy_login_upstream_wait_seconds",
     T::histogram,
     S::cells,
     "Time the logins counted in camproxy_login_upstream_waits_total waited, from the first wait to the OK.",
     {},
     {}},
    {MetricId::relay_bytes, "camproxy_relay_bytes_total", T::counter, S::cells,
     "Bytes relayed between applications and the database after login (MySQL bytes, before TLS).",
     kFixedName<RelayDirection>, values_of<RelayDirection>()},
    {MetricId::cam_requests, "camproxy_cam_requests_total", T::counter, S::cells,
     "BuildDataFlowAuthToken calls, by outcome.", kFixedName<CamOutcome>, values_of<CamOutcome>()},
    {MetricId::cam_request_duration,
     "camproxy_cam_request_duration_seconds",
     T::histogram,
     S::cells,
     "Duration of BuildDataFlowAuthToken calls, whatever their outcome.",
     {},
     {}},
    {MetricId::cam_calls_refused,
     "camproxy_cam_calls_refused_total",
     T::counter,
     S::cells,
     "Logins refused because their CAM call was over the process-wide limit (--cam-rate-limit, --cam-burst).",
     {},
     {}},
    {MetricId::cam_cached_accounts,
     "camproxy_cam_cached_accounts",
     T::gauge,
     S::cells,
     "Accounts whose CAM token (or CAM's refusal) camproxy holds, all targets together (at most "
     "--cam-max-accounts per target, besides the configured ones and those being fetched).",
     {},
     {}},
    {MetricId::token_age,
     "camproxy_token_age_seconds",
     T::gauge,
     S::scrape,
     "Seconds since the CAM token in use for the account was fetched.",
     kTargetAccount,
     {}},
    {MetricId::token_next_rotation,
     "camproxy_token_next_rotation_seconds",
     T::gauge,
     S::scrape,
     "Seconds until the account's token reaches its NextRotationTime (negative once overdue).",
     kTargetAccount,
     {}},
    {MetricId::token_fallback_in_use,
     "camproxy_token_fallback_in_use",
     T::gauge,
     S::scrape,
     "1 while logins for the account use the fallback password because no valid CAM token is at hand, else 0.",
     kTargetAccount,
     {}},
    {MetricId::data_path,
     "camproxy_data_path",
     T::gauge,
     S::scrape,
     "1 for the raw-I/O backend the sockets use (path=\"io_uring\" or \"epoll\", --data-path), 0 for the other.",
     kDataPathLabel,
     {}},
}};

constexpr bool table_in_id_order() {
  for (size_t i = 0; i < kTable.size(); ++i) {
    if (static_cast<size_t>(kTable[i].id) != i) return false;
  }
  return true;
}
static_assert(table_in_id_order(), "kTable rows must follow the order of MetricId");

[[noreturn]] void misuse(const MetricSpec& spec, const char* what) {
  std::fprintf(stderr, "camproxy: metrics misuse: %s on %.*s\n", what, static_cast<int>(spec.name.size()),
               spec.name.data());
  std::abort();
}

}  // namespace

std::span<const MetricSpec> metric_table() { return kTable; }

const MetricSpec& metric_spec(MetricId id) { return kTable[static_cast<size_t>(id)]; }

void Histogram::observe(std::chrono::nanoseconds d) noexcept {
  const int64_t ns = std::max<int64_t>(d.count(), 0);
  // Bucket i counts le=bound[i]: the first bound >= the observation.
  const auto slot =
      std::lower_bound(kLatencyBucketsNs.begin(), kLatencyBucketsNs.end(), ns) - kLatencyBucketsNs.begin();
  counts_[static_cast<size_t>(slot)].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(ns), std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const noexcept {
  Snapshot s;
  for (size_t i = 0; i < kSlots; ++i) s.counts[i] = counts_[i].load(std::memory_order_relaxed);
  s.sum_ns = sum_ns_.load(std::memory_order_relaxed);
  return s;
}

void GaugeSamples::add(std::initializer_list<std::string_view> label_values, double value) {
  if (label_values.size() != label_count_) {
    std::fprintf(stderr, "camproxy: metrics misuse: %zu label values for %zu labels\n", label_values.size(),
                 label_count_);
    std::abort();
  }
  samples_.push_back({std::vector<std::string>(label_values.begin(), label_values.end()), value});
}

GaugeCallbackRegistration::GaugeCallbackRegistration(GaugeCallbackRegistration&& other) noexcept
    : registry_(std::exchange(other.registry_, nullptr)), id_(other.id_) {}

GaugeCallbackRegistration& GaugeCallbackRegistration::operator=(GaugeCallbackRegistration&& other) noexcept {
  if (this != &other) {
    if (registry_ != nullptr) registry_->unregister(id_);
    registry_ = std::exchange(other.registry_, nullptr);
    id_ = other.id_;
  }
  return *this;
}

GaugeCallbackRegistration::~GaugeCallbackRegistration() {
  if (registry_ != nullptr) registry_->unregister(id_);
}

MetricsRegistry::MetricsRegistry(BuildInfo build) : build_(std::move(build)) {
  std::array<size_t, 3> cells_of_type{};  // counter, gauge, histogram
  for (const MetricSpec& spec : kTable) {
    if (spec.source != MetricSource::cells) continue;
    size_t& next = cells_of_type[static_cast<size_t>(spec.type)];
    first_cell_[static_cast<size_t>(spec.id)] = next;
    next += spec.label_values.empty() ? 1 : spec.label_values.size();
  }
  counters_ = std::make_unique<Counter[]>(cells_of_type[static_cast<size_t>(MetricType::counter)]);
  gauges_ = std::make_unique<Gauge[]>(cells_of_type[static_cast<size_t>(MetricType::gauge)]);
  histograms_ = std::make_unique<Histogram[]>(cells_of_type[static_cast<size_t>(MetricType::histogram)]);

  own_callbacks_.push_back(register_gauge_callback(MetricId::build_info, [this](GaugeSamples& s) {
    s.add({build_.version, build_.openssl, build_.libuv}, 1);
  }));
  own_callbacks_.push_back(register_gauge_callback(MetricId::process_start_time,
                                                   [this](GaugeSamples& s) { s.add({}, build_.start_time_seconds); }));
}

MetricsRegistry::~MetricsRegistry() = default;

size_t MetricsRegistry::cell_index(MetricId id, MetricType type, std::span<const LabelValue> values,
                                   size_t label) const {
  const MetricSpec& spec = metric_spec(id);
  if (spec.type != type || spec.source != MetricSource::cells) misuse(spec, "wrong metric type");
  if (spec.label_values.data() != values.data() || label >= std::max<size_t>(values.size(), 1)) {
    misuse(spec, "wrong label");
  }
  return first_cell_[static_cast<size_t>(id)] + label;
}

Counter& MetricsRegistry::counter(MetricId id) { return counters_[cell_index(id, MetricType::counter, {}, 0)]; }

Gauge& MetricsRegistry::gauge(MetricId id) { return gauges_[cell_index(id, MetricType::gauge, {}, 0)]; }

Histogram& MetricsRegistry::histogram(MetricId id) { return histograms_[cell_index(id, MetricType::histogram, {}, 0)]; }

GaugeCallbackRegistration MetricsRegistry::register_gauge_callback(MetricId id, GaugeCallback fn) {
  const MetricSpec& spec = metric_spec(id);
  if (spec.type != MetricType::gauge || spec.source != MetricSource::scrape) misuse(spec, "callback");
  const uint64_t callback_id = next_callback_id_++;
  callbacks_.push_back({callback_id, id, std::move(fn)});
  return GaugeCallbackRegistration(this, callback_id);
}

void MetricsRegistry::unregister(uint64_t id) {
  std::erase_if(callbacks_, [id](const Callback& c) { return c.id == id; });
}

void MetricsRegistry::render_cells(const MetricSpec& spec, std::string& out) const {
  const size_t first = first_cell_[static_cast<size_t>(spec.id)];
  if (spec.type == MetricType::histogram) {
    append_histogram(out, spec.name, histograms_[first].snapshot());
    return;
  }
  const size_t cells = spec.label_values.empty() ? 1 : spec.label_values.size();
  for (size_t i = 0; i < cells; ++i) {
    if (spec.label_values.empty()) {
      append_series(out, spec.name, "", {});
    } else {
      const LabelPair fixed[] = {{spec.label_names[0], spec.label_values[i].value}};
      append_series(out, spec.name, "", fixed);
    }
    if (spec.type == MetricType::counter) {
      append_integer(out, counters_[first + i].value());
    } else {
      append_integer(out, gauges_[first + i].value());
    }
    out += '\n';
  }
}

void MetricsRegistry::render_scrape(const MetricSpec& spec, std::string& out) const {
  GaugeSamples samples(spec.label_names.size());
  for (const Callback& c : callbacks_) {
    if (c.metric == spec.id) c.fn(samples);
  }
  std::vector<LabelPair> labels;
  for (const GaugeSamples::Sample& s : samples.samples_) {
    labels.clear();
    for (size_t i = 0; i < s.label_values.size(); ++i) labels.push_back({spec.label_names[i], s.label_values[i]});
    append_series(out, spec.name, "", labels);
    append_double(out, s.value);
    out += '\n';
  }
}

std::string MetricsRegistry::render() const {
  std::string out;
  out.reserve(8192);
  for (const MetricSpec& spec : kTable) {
    out += "# HELP ";
    out += spec.name;
    out += ' ';
    append_help_text(out, spec.help);
    out += "\n# TYPE ";
    out += spec.name;
    out += ' ';
    out += type_name(spec.type);
    out += '\n';
    if (spec.source == MetricSource::cells) {
      render_cells(spec, out);
    } else {
      render_scrape(spec, out);
    }
  }
  return out;
}

MetricsRegistry& process_metrics() {
  static MetricsRegistry registry([] {
    const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
    return BuildInfo{kVersion, OpenSSL_version(OPENSSL_VERSION_STRING), "",
                     std::chrono::duration<double>(since_epoch).count()};
  }());
  return registry;
}

std::string metrics_markdown() {
  std::string out =
      "# camproxy metrics\n\n"
      "Generated from the metric table in `proxy/ops/metrics.cc` (a unit test fails when this file\n"
      "and the table differ). Served at `/metrics` on the admin address (`--admin`) in the\n"
      "Prometheus text format 0.0.4. Gauges marked *at scrape* are computed when `/metrics` is\n"
      "read; everything else is updated as it happens. How to read them: "
      "[operations.md](operations.md#reading-the-metrics).\n\n"
      "| metric | type | labels | meaning |\n|---|---|---|---|\n";
  for (const MetricSpec& spec : kTable) {
    out += "| `" + std::string(spec.name) + "` | " + std::string(type_name(spec.type));
    if (spec.source == MetricSource::scrape) out += " (at scrape)";
    out += " | ";
    for (size_t i = 0; i < spec.label_names.size(); ++i) {
      out += (i == 0 ? "`" : ", `") + std::string(spec.label_names[i]) + "`";
    }
    out += " | " + std::string(spec.help) + " |\n";
  }
  out += "\n## Label values\n";
  for (const MetricSpec& spec : kTable) {
    if (spec.label_values.empty()) continue;
    out += "\n`" + std::string(spec.name) + "{" + std::string(spec.label_names[0]) + "}`:\n\n";
    for (const LabelValue& v : spec.label_values) {
      out += "- `" + std::string(v.value) + "`: " + std::string(v.meaning) + "\n";
    }
  }
  out += "\n## Histogram buckets\n\nEvery `_seconds` histogram has the upper bounds (`le`, seconds) ";
  for (size_t i = 0; i < kLatencyBucketsNs.size(); ++i) {
    if (i != 0) out += ", ";
    append_bound(out, kLatencyBucketsNs[i]);
  }
  out += " and `+Inf`.\n";
  return out;
}

}  // namespace camproxy::proxy
