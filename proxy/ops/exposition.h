#pragma once
// Writers of the Prometheus text exposition format 0.0.4 (what /metrics serves): numbers, label
// values, help text, one series line, a histogram's buckets. Used by proxy/ops/metrics.cc.
#include <charconv>
#include <span>
#include <string>
#include <string_view>

#include "proxy/ops/metrics.h"

namespace camproxy::proxy::exposition {

struct LabelPair {
  std::string_view name;
  std::string_view value;
};

std::string_view type_name(MetricType t);

template <class Int>
void append_integer(std::string& out, Int v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

// Go-style float text, with NaN, +Inf and -Inf spelled out.
void append_double(std::string& out, double v);
// UTF-8 with \\, " and newline escaped; bytes that are not valid UTF-8 become '?'.
void append_label_value(std::string& out, std::string_view v);
// Plain decimal seconds ("0.0005", not "5e-04"), as other Prometheus clients write `le`.
void append_bound(std::string& out, int64_t bound_ns);
void append_help_text(std::string& out, std::string_view v);
// `name{a="x",b="y"} ` (no braces without labels); the caller appends the value.
void append_series(std::string& out, std::string_view name, std::string_view suffix, std::span<const LabelPair> labels);
void append_histogram(std::string& out, std::string_view name, const Histogram::Snapshot& snap);

}  // namespace camproxy::proxy::exposition
