// The metrics registry: exposition text (golden families and a format check of the whole
// output), updates from several threads, histogram buckets, the metric table's naming rules,
// misuse, and docs/metrics.md drift.
#include "proxy/ops/metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "proxy/ops/version.h"

namespace camproxy::proxy {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

BuildInfo test_build() { return {"1.2.3", "3.0.17", "1.44.2", 1700000000.25}; }

// The lines of one metric family: its HELP and TYPE lines and its samples.
std::string family(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line, out;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0) inside = line.rfind("# HELP " + name + " ", 0) == 0;
    if (inside) out += line + "\n";
  }
  return out;
}

TEST(Metrics, CounterWithAFixedLabelRendersEveryValue) {
  MetricsRegistry reg(test_build());
  reg.counter(MetricId::client_connections_failed, ClientFailure::client_tls).inc();
  reg.counter(MetricId::client_connections_failed, ClientFailure::upstream).inc(3);
  EXPECT_EQ(family(reg.render(), "camproxy_client_connections_failed_total"),
            "# HELP camproxy_client_connections_failed_total Client connections that ended before their login "
            "completed, by reason.\n"
            "# TYPE camproxy_client_connections_failed_total counter\n"
            "camproxy_client_connections_failed_total{reason=\"handshake_timeout\"} 0\n"
            "camproxy_client_connections_failed_total{reason=\"client_protocol\"} 0\n"
            "camproxy_client_connections_failed_total{reason=\"client_tls\"} 1\n"
            "camproxy_client_connections_failed_total{reason=\"client_closed\"} 0\n"
            "camproxy_client_connections_failed_total{reason=\"local_auth\"} 0\n"
            "camproxy_client_connections_failed_total{reason=\"peer_refused\"} 0\n"
            "camproxy_client_connections_failed_total{reason=\"cam\"} 0\n"
            "camproxy_client_connections_failed_total{reason=\"upstream\"} 3\n"
            "camproxy_client_connections_failed_total{reason=\"pool_full\"} 0\n");
}

TEST(Metrics, PlainCounterAndGauge) {
  MetricsRegistry reg(test_build());
  reg.counter(MetricId::client_connections_total).inc(7);
  Gauge& open = reg.gauge(MetricId::client_connections_open);
  open.add(5);
  open.sub(2);
  const std::string text = reg.render();
  EXPECT_EQ(family(text, "camproxy_client_connections_total"),
            "# HELP camproxy_client_connections_total Client connections accepted.\n"
            "# TYPE camproxy_client_connections_total counter\n"
            "camproxy_client_connections_total 7\n");
  EXPECT_EQ(family(text, "camproxy_client_connections_open"),
            "# HELP camproxy_client_connections_open Client connections open now, from accept to close (logging in "
            "or relaying).\n"
            "# TYPE camproxy_client_connections_open gauge\n"
            "camproxy_client_connections_open 3\n");
}

TEST(Metrics, HistogramRendersCumulativeBucketsSumAndCount) {
  MetricsRegistry reg(test_build());
  Histogram& h = reg.histogram(MetricId::upstream_dial_duration);
  h.observe(milliseconds(2));      // le=0.0025
  h.observe(milliseconds(30));     // le=0.05
  h.observe(milliseconds(30));     // le=0.05
  h.observe(milliseconds(20000));  // +Inf only
  EXPECT_EQ(family(reg.render(), "camproxy_upstream_dial_duration_seconds"),
            "# HELP camproxy_upstream_dial_duration_seconds Time from starting an upstream dial to the database's OK "
            "of the login (successful dials).\n"
            "# TYPE camproxy_upstream_dial_duration_seconds histogram\n"
            "camproxy_upstream_dial_duration_seconds_bucket{le=\"0.0005\"} 0\n"
            "camproxy_upstream_dial_duration_seconds_bucket{le=\"0.001\"} 0\n"
            "camproxy_upstream_dial_duration_seconds_bucket{le=\"0.0025\"} 1\n"
            "camproxy_upstream_dial_duration_seconds_bucket{le=\"0.005\"} 1\n"
            "camproxy_upstream_dial_duration_seconds_bucket{le=\"0.01\"} 1\n"
            "camproxy_upstream_dial_duration_seconds_bucket{le=\"0.025\"} 1\n"
            "camproxy_upstream_dial_duration_seconds_bucket{le=\"0.05\"} 3\n"
            "camproxy_upstream_dial_duration_seconds_bucket{le=\"0.1\"} 3\n"
            "camproxy_upstream_dial_duration_seconds_bucket{le=\"0.25\"} 3\n"
            "camproxy_upstream_dial_duration_seconds_bucket{le=\"0.5\"} 3\n"
            "camproxy_upstream_dial_duration_seconds_bucket{le=\"1\"} 3\n"
            "camproxy_upstream_dial_duration_seconds_bucket{le=\"2.5\"} 3\n"
            "camproxy_upstream_dial_duration_seconds_bucket{le=\"5\"} 3\n"
            "camproxy_upstream_dial_duration_seconds_bucket{le=\"10\"} 3\n"
            "camproxy_upstream_dial_duration_seconds_bucket{le=\"+Inf\"} 4\n"
            "camproxy_upstream_dial_duration_seconds_sum 20.062\n"
            "camproxy_upstream_dial_duration_seconds_count 4\n");
}

TEST(Metrics, BucketBoundsAreInclusive) {
  Histogram h;
  h.observe(nanoseconds(0));
  h.observe(nanoseconds(-5));              // clamped to 0
  h.observe(nanoseconds(500'000));         // exactly le=0.0005
  h.observe(nanoseconds(500'001));         // le=0.001
  h.observe(nanoseconds(10'000'000'000));  // exactly le=10
  h.observe(nanoseconds(10'000'000'001));  // +Inf
  const Histogram::Snapshot s = h.snapshot();
  EXPECT_EQ(s.counts[0], 3u);
  EXPECT_EQ(s.counts[1], 1u);
  EXPECT_EQ(s.counts[kLatencyBucketsNs.size() - 1], 1u);
  EXPECT_EQ(s.counts[kLatencyBucketsNs.size()], 1u);
  EXPECT_EQ(s.sum_ns, 500'000u + 500'001u + 10'000'000'000u + 10'000'000'001u);
}

TEST(Metrics, BuildInfoAndStartTime) {
  MetricsRegistry reg(test_build());
  const std::string text = reg.render();
  EXPECT_EQ(family(text, "camproxy_build_info"),
            "# HELP camproxy_build_info Always 1; the labels name the camproxy version and the OpenSSL and libuv "
            "libraries in use.\n"
            "# TYPE camproxy_build_info gauge\n"
            "camproxy_build_info{version=\"1.2.3\",openssl=\"3.0.17\",libuv=\"1.44.2\"} 1\n");
  EXPECT_EQ(family(text, "camproxy_process_start_time_seconds"),
            "# HELP camproxy_process_start_time_seconds Start time of the process since the Unix epoch, in seconds.\n"
            "# TYPE camproxy_process_start_time_seconds gauge\n"
            "camproxy_process_start_time_seconds 1700000000.25\n");
}

TEST(Metrics, ProcessRegistryReportsThisBuild) {
  const std::string text = process_metrics().render();
  EXPECT_NE(text.find("camproxy_build_info{version=\"" + std::string(kVersion) + "\",openssl=\"3."), std::string::npos)
      << family(text, "camproxy_build_info");
}

TEST(Metrics, ScrapeCallbacksEscapeLabelsAndStopWhenDropped) {
  MetricsRegistry reg(test_build());
  {
    GaugeCallbackRegistration age = reg.register_gauge_callback(MetricId::token_age, [](GaugeSamples& s) {
      s.add({"orders", "app_rw"}, 12.5);
      s.add({"orders", "we\"ird\\na\nme"}, 0);
      s.add({"orders", "\xff\xfe_bad"}, -1);  // not UTF-8: replaced, never breaks the scrape
    });
    EXPECT_EQ(family(reg.render(), "camproxy_token_age_seconds"),
              "# HELP camproxy_token_age_seconds Seconds since the CAM token in use for the account was fetched.\n"
              "# TYPE camproxy_token_age_seconds gauge\n"
              "camproxy_token_age_seconds{target=\"orders\",account=\"app_rw\"} 12.5\n"
              "camproxy_token_age_seconds{target=\"orders\",account=\"we\\\"ird\\\\na\\nme\"} 0\n"
              "camproxy_token_age_seconds{target=\"orders\",account=\"??_bad\"} -1\n");
    GaugeCallbackRegistration moved = std::move(age);  // the registration follows the move
    EXPECT_NE(family(reg.render(), "camproxy_token_age_seconds").find("app_rw"), std::string::npos);
  }
  EXPECT_EQ(family(reg.render(), "camproxy_token_age_seconds"),
            "# HELP camproxy_token_age_seconds Seconds since the CAM token in use for the account was fetched.\n"
            "# TYPE camproxy_token_age_seconds gauge\n");
}

TEST(Metrics, SeveralCallbacksOfOneMetricAllReport) {
  MetricsRegistry reg(test_build());
  auto a = reg.register_gauge_callback(MetricId::token_fallback_in_use, [](GaugeSamples& s) { s.add({"t", "a"}, 0); });
  auto b = reg.register_gauge_callback(MetricId::token_fallback_in_use, [](GaugeSamples& s) { s.add({"t", "b"}, 1); });
  const std::string f = family(reg.render(), "camproxy_token_fallback_in_use");
  EXPECT_NE(f.find("camproxy_token_fallback_in_use{target=\"t\",account=\"a\"} 0\n"), std::string::npos) << f;
  EXPECT_NE(f.find("camproxy_token_fallback_in_use{target=\"t\",account=\"b\"} 1\n"), std::string::npos) << f;
}

// Relaxed atomics lose nothing: exact totals after concurrent updates (run under TSan with
// -DCAMPROXY_SANITIZE=thread to check there is no data race).
TEST(Metrics, UpdatesFromSeveralThreadsAddUp) {
  MetricsRegistry reg(test_build());
  constexpr int kThreads = 4;
  constexpr uint64_t kRounds = 50'000;
  Counter& total = reg.counter(MetricId::client_connections_total);
  Counter& bytes = reg.counter(MetricId::relay_bytes, RelayDirection::upstream_to_client);
  Gauge& open = reg.gauge(MetricId::client_connections_open);
  Histogram& h = reg.histogram(MetricId::client_handshake_duration);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (uint64_t i = 0; i < kRounds; ++i) {
        total.inc();
        bytes.inc(10);
        open.add(1);
        h.observe(milliseconds(1));
        open.sub(1);
      }
    });
  }
  std::string during;
  for (int i = 0; i < 5; ++i) during = reg.render();  // scrapes race with the updates
  for (auto& t : threads) t.join();
  EXPECT_EQ(total.value(), kThreads * kRounds);
  EXPECT_EQ(bytes.value(), kThreads * kRounds * 10);
  EXPECT_EQ(open.value(), 0);
  const Histogram::Snapshot s = h.snapshot();
  EXPECT_EQ(s.counts[1], kThreads * kRounds);
  EXPECT_EQ(s.sum_ns, kThreads * kRounds * 1'000'000);
  EXPECT_NE(family(reg.render(), "camproxy_relay_bytes_total")
                .find("camproxy_relay_bytes_total{direction=\"upstream_to_client\"} 2000000\n"),
            std::string::npos);
}

// A minimal reader of the 0.0.4 text format (std::regex trips GCC 12's -Wmaybe-uninitialized
// under the sanitizers, hence by hand).
bool is_metric_name(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0])) != 0) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':'; });
}

bool is_sample_value(std::string_view s) {
  if (s == "+Inf" || s == "-Inf" || s == "NaN") return true;
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && end == s.data() + s.size();
}

// `name{label="escaped",...} value` -> name, or "" when the line is not a valid sample.
std::string sample_name(std::string_view line) {
  const size_t name_end = line.find_first_of("{ ");
  if (name_end == std::string_view::npos || !is_metric_name(line.substr(0, name_end))) return "";
  size_t i = name_end;
  if (line[i] == '{') {
    ++i;
    while (true) {
      const size_t eq = line.find('=', i);
      if (eq == std::string_view::npos || !is_metric_name(line.substr(i, eq - i)) || eq + 1 >= line.size() ||
          line[eq + 1] != '"') {
        return "";
      }
      i = eq + 2;
      while (i < line.size() && line[i] != '"') {
        if (line[i] == '\\') {
          if (i + 1 >= line.size() || std::string_view("\\\"n").find(line[i + 1]) == std::string_view::npos) return "";
          ++i;
        }
        ++i;
      }
      if (i + 1 >= line.size()) return "";
      ++i;  // closing quote
      if (line[i] == '}') break;
      if (line[i] != ',') return "";
      ++i;
    }
    ++i;  // closing brace
  }
  if (i >= line.size() || line[i] != ' ' || !is_sample_value(line.substr(i + 1))) return "";
  return std::string(line.substr(0, name_end));
}

TEST(Metrics, SampleReaderRejectsBrokenLines) {
  EXPECT_EQ(sample_name(R"(a_b{x="1",y="q\"\\"} 2.5)"), "a_b");
  EXPECT_EQ(sample_name("a +Inf"), "a");
  EXPECT_EQ(sample_name(R"(a{x="1} 2)"), "");
  EXPECT_EQ(sample_name(R"(a{x="\t"} 2)"), "");
  EXPECT_EQ(sample_name("a 1x"), "");
  EXPECT_EQ(sample_name("1a 1"), "");
}

// Every line of the whole output is a HELP, TYPE or sample line of the 0.0.4 format; each
// family appears once, HELP then TYPE then its own samples.
TEST(Metrics, WholeOutputIsValidExposition) {
  MetricsRegistry reg(test_build());
  auto cb = reg.register_gauge_callback(MetricId::token_next_rotation, [](GaugeSamples& s) { s.add({"t", "x"}, 3.5); });
  std::istringstream in(reg.render());
  std::string line, current, current_type;
  std::set<std::string> seen;
  int samples = 0;
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0) {
      const size_t name_end = line.find(' ', 7);
      ASSERT_NE(name_end, std::string::npos) << line;
      current = line.substr(7, name_end - 7);
      EXPECT_TRUE(is_metric_name(current)) << line;
      EXPECT_GT(line.size(), name_end + 1) << "empty help: " << line;
      EXPECT_TRUE(seen.insert(current).second) << "family twice: " << current;
      ASSERT_TRUE(std::getline(in, line));
      const std::string type_prefix = "# TYPE " + current + " ";
      ASSERT_EQ(line.rfind(type_prefix, 0), 0u) << line;
      current_type = line.substr(type_prefix.size());
      EXPECT_TRUE(current_type == "counter" || current_type == "gauge" || current_type == "histogram") << line;
    } else {
      const std::string name = sample_name(line);
      ASSERT_FALSE(name.empty()) << "not a sample line: " << line;
      if (current_type == "histogram") {
        EXPECT_TRUE(name == current + "_bucket" || name == current + "_sum" || name == current + "_count") << line;
      } else {
        EXPECT_EQ(name, current) << line;
      }
      ++samples;
    }
  }
  EXPECT_EQ(seen.size(), kMetricCount);
  EXPECT_GT(samples, 60);
}

TEST(Metrics, TableFollowsPrometheusNaming) {
  std::set<std::string_view> names;
  for (const MetricSpec& spec : metric_table()) {
    const std::string name(spec.name);
    SCOPED_TRACE(name);
    EXPECT_TRUE(
        name.starts_with("camproxy_") && !name.ends_with("_") &&
        std::all_of(name.begin(), name.end(), [](char c) { return std::islower(c) || std::isdigit(c) || c == '_'; }));
    EXPECT_TRUE(names.insert(spec.name).second);
    EXPECT_FALSE(spec.help.empty());
    EXPECT_EQ(&metric_spec(spec.id), &spec);
    const bool ends_total = name.ends_with("_total");
    EXPECT_EQ(ends_total, spec.type == MetricType::counter) << "only counters end in _total";
    if (spec.type == MetricType::histogram) {
      EXPECT_TRUE(name.ends_with("_seconds"));
    }
    if (!spec.label_values.empty()) {
      EXPECT_EQ(spec.label_names.size(), 1u);
      EXPECT_EQ(spec.source, MetricSource::cells);
    }
    if (spec.source == MetricSource::scrape) {
      EXPECT_EQ(spec.type, MetricType::gauge);
    }
    for (std::string_view label : spec.label_names) {
      EXPECT_NE(label, "le");
      EXPECT_FALSE(label.starts_with("__"));
    }
  }
  EXPECT_EQ(names.size(), kMetricCount);
}

TEST(MetricsDeathTest, MisuseAbortsWithTheMetricName) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  MetricsRegistry reg(test_build());
  EXPECT_DEATH(reg.gauge(MetricId::client_connections_total), "wrong metric type on camproxy_client_connections_total");
  EXPECT_DEATH(reg.counter(MetricId::client_connections_failed), "wrong label on camproxy_client_connections_failed");
  EXPECT_DEATH(reg.counter(MetricId::upstream_dial_failures, ClientFailure::cam), "wrong label");
  EXPECT_DEATH((void)reg.register_gauge_callback(MetricId::client_connections_open, [](GaugeSamples&) {}),
               "callback on camproxy_client_connections_open");
  EXPECT_DEATH(
      {
        auto r = reg.register_gauge_callback(MetricId::token_age, [](GaugeSamples& s) { s.add({}, 1); });
        (void)reg.render();
      },
      "0 label values for 2 labels");
}

// CAMPROXY_UPDATE_DOCS=1 ./camproxy_proxy_tests --gtest_filter=Metrics.DocIsCurrent
TEST(Metrics, DocIsCurrent) {
  const std::string path = std::string(CAMPROXY_TEST_DATA_DIR) + "/../../docs/metrics.md";
  if (std::getenv("CAMPROXY_UPDATE_DOCS") != nullptr) std::ofstream(path) << metrics_markdown();
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), metrics_markdown()) << "docs/metrics.md is stale: regenerate it (see the comment above)";
}

}  // namespace
}  // namespace camproxy::proxy
