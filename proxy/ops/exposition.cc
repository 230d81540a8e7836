#include "proxy/ops/exposition.h"

#include <cmath>

#include "auth/utf8.h"

namespace camproxy::proxy::exposition {

std::string_view type_name(MetricType t) {
  switch (t) {
    case MetricType::counter: return "counter";
    case MetricType::gauge: return "gauge";
    case MetricType::histogram: return "histogram";
  }
  return "untyped";
}

// Exposition format 0.0.4: Go-style float text, with NaN, +Inf and -Inf spelled out.
void append_double(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
  }
}

// Label values must be UTF-8 with \, " and newline escaped. Account names come from clients,
// so bytes that are not valid UTF-8 are replaced rather than breaking the whole scrape.
void append_label_value(std::string& out, std::string_view v) {
  const bool utf8 = auth::is_valid_utf8(v);
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else if (!utf8 && static_cast<unsigned char>(c) >= 0x80) {
      out += '?';
    } else {
      out += c;
    }
  }
}

// Bucket bounds in plain decimal ("0.0005", not "5e-04"), the way other Prometheus clients
// write `le`, so that series from different processes line up.
void append_bound(std::string& out, int64_t bound_ns) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<double>(bound_ns) / 1e9, std::chars_format::fixed);
  out.append(buf, end);
}

void append_help_text(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

// `name{a="x",b="y"} ` (no braces without labels); the caller appends the value.
void append_series(std::string& out, std::string_view name, std::string_view suffix,
                   std::span<const LabelPair> labels) {
  out += name;
  out += suffix;
  if (!labels.empty()) {
    out += '{';
    bool first = true;
    for (const LabelPair& l : labels) {
      if (!first) out += ',';
      first = false;
      out += l.name;
      out += "=\"";
      append_label_value(out, l.value);
      out += '"';
    }
    out += '}';
  }
  out += ' ';
}

void append_histogram(std::string& out, std::string_view name, const Histogram::Snapshot& snap) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kLatencyBucketsNs.size(); ++i) {
    cumulative += snap.counts[i];
    std::string le;
    append_bound(le, kLatencyBucketsNs[i]);
    const LabelPair bucket[] = {{"le", le}};
    append_series(out, name, "_bucket", bucket);
    append_integer(out, cumulative);
    out += '\n';
  }
  cumulative += snap.counts.back();
  const LabelPair inf[] = {{"le", "+Inf"}};
  append_series(out, name, "_bucket", inf);
  append_integer(out, cumulative);
  out += '\n';
  append_series(out, name, "_sum", {});
  append_double(out, static_cast<double>(snap.sum_ns) / 1e9);
  out += '\n';
  append_series(out, name, "_count", {});
  append_integer(out, cumulative);
  out += '\n';
}

}  // namespace camproxy::proxy::exposition
