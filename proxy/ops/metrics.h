#pragma once
// Process-wide metrics, served at /metrics in the Prometheus text exposition format 0.0.4
// (issue 5). Every metric is declared once, in the table of metrics.cc; the same table renders
// /metrics and docs/metrics.md (tests/proxy/metrics_test.cc fails when the doc drifts).
//
// Threads. Updates (Counter::inc, Gauge::add, Histogram::observe) are relaxed atomics on cells
// that exist from construction: lock-free, allocation-free, no string lookup, callable from any
// worker. Look a cell up once (`Counter& c = reg.counter(MetricId::...)`) and keep the
// reference; the lookup itself is an array index, so calling it per update is cheap too.
// render() and register_gauge_callback() belong to the control thread (the admin endpoint).
// Label values are never secret: fixed enums, or CAM account names from scrape-time callbacks.
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace camproxy::proxy {

inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

enum class MetricType { counter, gauge, histogram };

// Where a metric's samples come from: atomic cells updated on the data path, or callbacks the
// owner of the state registers and the registry calls at scrape time.
enum class MetricSource { cells, scrape };

// Row order of the table in metrics.cc (a static_assert keeps the two in step).
enum class MetricId : uint8_t {
  build_info,
  process_start_time,
  client_connections_open,
  client_connections_total,
  client_connections_failed,
  client_handshake_duration,
  client_errors,
  accept_pauses,
  upstream_connections_open,
  upstream_connections_idle,
  upstream_dials,
  upstream_dial_failures,
  upstream_dial_duration,
  upstream_reuses,
  upstream_auth_retries,
  upstream_disconnects,
  pool_cleanups,
  pool_closes,
  pool_waiting_clients,
  pool_wait_duration,
  pool_pins,
  pool_pinned_sessions,
  pool_shared_sessions,
  pool_borrow_waiting,
  pool_borrow_wait_duration,
  pool_borrow_timeouts,
  pool_reprepares,
  target_upstream_connections,
  target_client_connections,
  login_upstream_waits,
  login_upstream_wait_duration,
  relay_bytes,
  cam_requests,
  cam_request_duration,
  cam_calls_refused,
  cam_cached_accounts,
  token_age,
  token_next_rotation,
  token_fallback_in_use,
  data_path,
};
inline constexpr size_t kMetricCount = static_cast<size_t>(MetricId::data_path) + 1;

// One value of a fixed label, with the meaning docs/metrics.md gives it.
struct LabelValue {
  std::string_view value;
  std::string_view meaning;
};

// Labels whose values are a small fixed enum: one cell per value exists from the start.
// FixedLabel<E>::kValues is indexed by the enum's value.
template <class E>
struct FixedLabel;

enum class ClientFailure : uint8_t {
  handshake_timeout,
  client_protocol,
  client_tls,
  client_closed,
  local_auth,
  peer_refused,
  cam,
  upstream,
  pool_full,
};
template <>
struct FixedLabel<ClientFailure> {
  static constexpr std::string_view kName = "reason";
  static constexpr std::array<LabelValue, 9> kValues = {{
      {"handshake_timeout", "the client did not finish its login within --handshake-timeout"},
      {"client_protocol", "malformed or unsupported login (bad packet, compression, pre-4.1 auth, no user name)"},
      {"client_tls", "the TLS handshake with the client failed, or a client on another host logged in without TLS"},
      {"client_closed", "the client went away before its login completed"},
      {"local_auth", "local authentication refused the client's password (1045 from camproxy)"},
      {"peer_refused", "the unix-socket peer's uid is not on the allow-list"},
      {"cam", "no usable CAM token: CAM refused the request or failed with none cached"},
      {"upstream", "the database could not be reached or refused the login (see dial failures)"},
      {"pool_full",
       "no database connection was free within --pool-borrow-timeout, or --pool-max-waiters clients waited already "
       "(error 9008)"},
  }};
};

// The MySQL error codes of the ERR packets camproxy itself sends (proxy/session/client_errors.cc;
// its test checks that every code there has its value here).
enum class ClientErrCode : uint8_t {
  e1040,
  e1043,
  e1045,
  e1094,
  e1095,
  e1153,
  e1158,
  e1226,
  e1235,
  e1243,
  e1251,
  e1461,
  e3159,
  e9001,
  e9002,
  e9003,
  e9004,
  e9005,
  e9006,
  e9007,
  e9008,
};
template <>
struct FixedLabel<ClientErrCode> {
  static constexpr std::string_view kName = "code";
  static constexpr std::array<LabelValue, 21> kValues = {{
      {"1040", "too many connections: --max-client-connections or --max-logins-in-progress reached"},
      {"1043", "bad handshake: a malformed login, TLS asked for but not offered, or the login timed out"},
      {"1045",
       "access denied: CAM refused or failed, the database refused the token, a user without an account, or local "
       "authentication"},
      {"1094", "KILL of an id that is neither a session's greeting id nor its current database thread id"},
      {"1095", "KILL of another user's session, or one the database refused (the application's own id named)"},
      {"1153", "a login packet above the pre-authentication limit"},
      {"1158", "the client asked for compression"},
      {"1226", "a login that needs a CAM call while the process-wide CAM call limit has none to spare"},
      {"1235", "a command camproxy does not support (KILL USER, KILL QUERY ID, some COM_CHANGE_USER)"},
      {"1243", "--pool-mode transaction: a prepared-statement command naming a statement the client does not have"},
      {"1251", "a pre-4.1 client or mysql_old_password"},
      {"1461", "--pool-mode transaction: a client's prepare beyond camproxy's per-client statement limit"},
      {"3159", "a login in clear from another host (TLS required)"},
      {"9001", "the database could not be reached"},
      {"9002", "TLS to the database failed"},
      {"9003", "the database answered the login with something camproxy cannot follow"},
      {"9004", "the database connection died while a command was running"},
      {"9005", "the database connection died while the session held state that cannot be re-created"},
      {"9006", "a unix-socket peer whose uid is not on --allow-peer-uid"},
      {"9007", "the database asked for the token itself over a hop that does not authenticate it"},
      {"9008", "no database connection free within --pool-borrow-timeout (or too many clients waiting)"},
  }};
};

// Why a listener stopped accepting for a moment (proxy/net/acceptor.h).
enum class AcceptPause : uint8_t { process_fd_limit, system_fd_limit, kernel_memory, other };
template <>
struct FixedLabel<AcceptPause> {
  static constexpr std::string_view kName = "reason";
  static constexpr std::array<LabelValue, 4> kValues = {{
      {"process_fd_limit", "EMFILE: camproxy has as many descriptors open as its RLIMIT_NOFILE allows"},
      {"system_fd_limit", "ENFILE: the system-wide open-files limit (fs.file-max) is reached"},
      {"kernel_memory", "ENOBUFS or ENOMEM: the kernel has no memory for another socket"},
      {"other", "another accept() error (logged with its text)"},
  }};
};

enum class DialFailure : uint8_t { dns, connect, timeout, tls, auth, protocol };
template <>
struct FixedLabel<DialFailure> {
  static constexpr std::string_view kName = "reason";
  static constexpr std::array<LabelValue, 6> kValues = {{
      {"dns", "the upstream host name did not resolve"},
      {"connect", "TCP connect refused or unreachable, or the connection dropped before the login finished"},
      {"timeout", "connect and login took longer than --connect-timeout"},
      {"tls", "TLS to the database failed, or was required and not offered"},
      {"auth", "the database refused the CAM token (after the one retry with a fresh token)"},
      {"protocol", "the database sent something camproxy cannot follow"},
  }};
};

enum class RelayDirection : uint8_t { client_to_upstream, upstream_to_client };
template <>
struct FixedLabel<RelayDirection> {
  static constexpr std::string_view kName = "direction";
  static constexpr std::array<LabelValue, 2> kValues = {{
      {"client_to_upstream", "bytes the application sent to the database"},
      {"upstream_to_client", "bytes the database sent to the application"},
  }};
};

enum class CamOutcome : uint8_t { success, rejected, api_error, timeout, network, bad_answer };
template <>
struct FixedLabel<CamOutcome> {
  static constexpr std::string_view kName = "outcome";
  static constexpr std::array<LabelValue, 6> kValues = {{
      {"success", "a token was issued and decoded"},
      {"rejected", "CAM answered an error that retrying cannot fix (AuthFailure.*, DataFlowAuthClose)"},
      {"api_error", "CAM answered another error code (throttling, internal error): retryable"},
      {"timeout", "no answer within --cam-timeout"},
      {"network", "connect, TLS or transfer failure before an answer"},
      {"bad_answer", "an HTTP status other than 200, or a body or token that does not decode"},
  }};
};

enum class UpstreamLoss : uint8_t { reconnected, session_closed };
template <>
struct FixedLabel<UpstreamLoss> {
  static constexpr std::string_view kName = "outcome";
  static constexpr std::array<LabelValue, 2> kValues = {{
      {"reconnected", "camproxy dialled a new upstream connection and the session went on unnoticed"},
      {"session_closed", "the session was inside a transaction or had state: the client got an ERR"},
  }};
};

enum class PoolCleanup : uint8_t { reset, change_user };
template <>
struct FixedLabel<PoolCleanup> {
  static constexpr std::string_view kName = "method";
  static constexpr std::array<LabelValue, 2> kValues = {{
      {"reset", "COM_RESET_CONNECTION"},
      {"change_user",
       "COM_CHANGE_USER with the current CAM token, because the server answered COM_RESET_CONNECTION with an "
       "error (remembered: later returns go straight to it)"},
  }};
};

enum class PoolClose : uint8_t {
  idle_timeout,
  max_lifetime,
  make_room,
  lost,
  unclean,
  change_user_refused,
  change_user_failed,
  over_max,
};
template <>
struct FixedLabel<PoolClose> {
  static constexpr std::string_view kName = "reason";
  static constexpr std::array<LabelValue, 8> kValues = {{
      {"idle_timeout", "idle longer than --pool-idle-timeout (which stays below the server's wait_timeout)"},
      {"max_lifetime", "older than --pool-max-lifetime"},
      {"make_room",
       "closed at --pool-max to make room for a client (on any worker of the target) whose pool key had no idle "
       "connection"},
      {"lost", "the server closed it while it was idle (wait_timeout, KILL, restart)"},
      {"unclean",
       "the cleanup after its client left did not prove it clean (transaction still open, a command "
       "failed, connection lost)"},
      {"change_user_refused",
       "COM_CHANGE_USER was refused with 1045 (a rotated password): a fresh token is "
       "requested"},
      {"change_user_failed", "COM_CHANGE_USER failed otherwise, or no usable CAM token was at hand for it"},
      {"over_max", "idle while the pool held more than a pool.max that a reload lowered"},
  }};
};

enum class LoginWaitReason : uint8_t { dial, pool_wait, fixup, borrow };
template <>
struct FixedLabel<LoginWaitReason> {
  static constexpr std::string_view kName = "reason";
  static constexpr std::array<LabelValue, 4> kValues = {{
      {"dial", "no connection of the client's pool key was ready or coming back: the login dialled one"},
      {"pool_wait", "it waited for a connection of its key being reset after its last client, or being warmed"},
      {"fixup",
       "the ready connection had another schema, character set or option: COM_INIT_DB, SET NAMES or "
       "COM_SET_OPTION ran before the client's OK"},
      {"borrow", "--pool-max connections were open and none idle for it: it waited in the borrow queue"},
  }};
};

// Why a session in --pool-mode transaction keeps its database connection between commands
// (proxy/session/pin_tracker.h; docs/operations.md "Transaction pooling").
enum class PinReason : uint8_t {
  transaction,
  xa,
  lock_tables,
  read_lock,
  get_lock,
  temporary_table,
  user_variable,
  prepared_statement,
  unfollowable,
  last_result,
};
template <>
struct FixedLabel<PinReason> {
  static constexpr std::string_view kName = "reason";
  static constexpr std::array<LabelValue, 10> kValues = {{
      {"transaction", "a transaction is open (SERVER_STATUS_IN_TRANS), including autocommit=0 with work done"},
      {"xa", "an XA statement ran (for the rest of the session)"},
      {"lock_tables", "LOCK TABLES, until UNLOCK TABLES"},
      {"read_lock", "FLUSH TABLES ... WITH READ LOCK, until UNLOCK TABLES"},
      {"get_lock", "GET_LOCK() ran (for the rest of the session)"},
      {"temporary_table", "a statement named a temporary table (for the rest of the session)"},
      {"user_variable", "a statement used a user variable (@x) (for the rest of the session)"},
      {"prepared_statement",
       "SQL PREPARE, a COM_STMT_PREPARE too long to keep (over 64 KiB), COM_STMT_BULK_EXECUTE or an execute that "
       "opened a cursor (for the rest of the session, or until COM_RESET_CONNECTION); other server-side prepared "
       "statements are carried to the next connection"},
      {"unfollowable",
       "a statement camproxy cannot follow (too long to read, SET TRANSACTION, HANDLER, CALL, ...) (for the rest "
       "of the session)"},
      {"last_result",
       "the last response left warnings, changed rows or counted SQL_CALC_FOUND_ROWS: kept until the next "
       "command, so SHOW WARNINGS, ROW_COUNT() and FOUND_ROWS() answer about it"},
  }};
};

// The label text of a fixed label's value, for logs.
template <class E>
constexpr std::string_view label_value(E value) {
  return FixedLabel<E>::kValues[static_cast<size_t>(value)].value;
}

struct MetricSpec {
  MetricId id;
  std::string_view name;  // full name, camproxy_ prefix included
  MetricType type;
  MetricSource source;
  std::string_view help;
  // Label names in sample order. Cells with a fixed label: exactly that one name.
  std::span<const std::string_view> label_names;
  // Cells with a fixed label: its values, one cell each. Empty otherwise.
  std::span<const LabelValue> label_values;
};

// The metric table, in MetricId order.
std::span<const MetricSpec> metric_table();
const MetricSpec& metric_spec(MetricId id);

// Latency buckets shared by every histogram (upper bounds, nanoseconds): 0.5 ms .. 10 s.
inline constexpr std::array<int64_t, 14> kLatencyBucketsNs = {
    500'000,     1'000'000,   2'500'000,   5'000'000,     10'000'000,    25'000'000,    50'000'000,
    100'000'000, 250'000'000, 500'000'000, 1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000,
};

// Cells are cache-line aligned so that counters bumped by different workers do not share a line.
class alignas(64) Counter {
 public:
  void inc(uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class alignas(64) Gauge {
 public:
  void add(int64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  void sub(int64_t n = 1) noexcept { value_.fetch_sub(n, std::memory_order_relaxed); }
  void set(int64_t v) noexcept { value_.store(v, std::memory_order_relaxed); }
  int64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

class alignas(64) Histogram {
 public:
  static constexpr size_t kSlots = kLatencyBucketsNs.size() + 1;  // the last one is +Inf

  // Negative durations count as zero.
  void observe(std::chrono::nanoseconds d) noexcept;

  struct Snapshot {
    std::array<uint64_t, kSlots> counts{};  // per bucket, not cumulative
    uint64_t sum_ns = 0;
  };
  Snapshot snapshot() const noexcept;

 private:
  std::array<std::atomic<uint64_t>, kSlots> counts_{};
  std::atomic<uint64_t> sum_ns_{0};
};

// What a scrape-time callback reports: one sample per label set, label values in the order of
// the metric's label names. Several callbacks of one metric must not report the same label set.
class GaugeSamples {
 public:
  void add(std::initializer_list<std::string_view> label_values, double value);

 private:
  friend class MetricsRegistry;
  struct Sample {
    std::vector<std::string> label_values;
    double value;
  };
  explicit GaugeSamples(size_t label_count) : label_count_(label_count) {}
  size_t label_count_;
  std::vector<Sample> samples_;
};

using GaugeCallback = std::function<void(GaugeSamples&)>;

class MetricsRegistry;

// Keeps a callback registered; unregisters it when destroyed. Must not outlive its registry.
class GaugeCallbackRegistration {
 public:
  GaugeCallbackRegistration() = default;
  GaugeCallbackRegistration(GaugeCallbackRegistration&& other) noexcept;
  GaugeCallbackRegistration& operator=(GaugeCallbackRegistration&& other) noexcept;
  GaugeCallbackRegistration(const GaugeCallbackRegistration&) = delete;
  GaugeCallbackRegistration& operator=(const GaugeCallbackRegistration&) = delete;
  ~GaugeCallbackRegistration();

 private:
  friend class MetricsRegistry;
  GaugeCallbackRegistration(MetricsRegistry* registry, uint64_t id) : registry_(registry), id_(id) {}
  MetricsRegistry* registry_ = nullptr;
  uint64_t id_ = 0;
};

// What camproxy_build_info and camproxy_process_start_time_seconds report.
struct BuildInfo {
  std::string version;
  std::string openssl;
  std::string libuv;
  double start_time_seconds = 0;  // since the Unix epoch
};

class MetricsRegistry {
 public:
  explicit MetricsRegistry(BuildInfo build);
  // The libuv in use, for camproxy_build_info: main() says it before any thread starts (the
  // metrics code itself needs no event loop, so it does not link one).
  void set_libuv_version(std::string version) { build_.libuv = std::move(version); }
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;
  ~MetricsRegistry();

  // Cell lookups. Asking for a metric of another type, a scrape-time metric, or with the
  // wrong label enum is a programming error and aborts with the metric's name.
  Counter& counter(MetricId id);
  Gauge& gauge(MetricId id);
  Histogram& histogram(MetricId id);
  template <class E>
  Counter& counter(MetricId id, E label) {
    return counters_[cell_index(id, MetricType::counter, FixedLabel<E>::kValues, static_cast<size_t>(label))];
  }

  // Control thread. `fn` runs on every render() until the registration is dropped.
  [[nodiscard]] GaugeCallbackRegistration register_gauge_callback(MetricId id, GaugeCallback fn);

  // Control thread: the whole exposition text.
  std::string render() const;

 private:
  friend class GaugeCallbackRegistration;
  struct Callback {
    uint64_t id;
    MetricId metric;
    GaugeCallback fn;
  };

  size_t cell_index(MetricId id, MetricType type, std::span<const LabelValue> values, size_t label) const;
  void unregister(uint64_t id);
  void render_cells(const MetricSpec& spec, std::string& out) const;
  void render_scrape(const MetricSpec& spec, std::string& out) const;

  BuildInfo build_;
  std::array<size_t, kMetricCount> first_cell_{};  // index into the array of the metric's type
  std::unique_ptr<Counter[]> counters_;
  std::unique_ptr<Gauge[]> gauges_;
  std::unique_ptr<Histogram[]> histograms_;
  std::vector<Callback> callbacks_;
  uint64_t next_callback_id_ = 1;
  std::vector<GaugeCallbackRegistration> own_callbacks_;  // build info, start time
};

// The process's registry, made on first use with this build's versions and the time of that
// first call (call it early in main so that the start time is right).
MetricsRegistry& process_metrics();

// docs/metrics.md is exactly this text.
std::string metrics_markdown();

}  // namespace camproxy::proxy
