"""deploy/grafana/camproxy-dashboard.json (docs/operations.md "Reading the metrics"): every
PromQL expression in it (panel queries and template variables) names only metrics a running
camproxy exports on /metrics, and groups by labels those metrics carry."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator

import pytest

kDashboard = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "camproxy-dashboard.json"
kPromqlWords = {
    # functions and aggregations the dashboard may use
    "rate", "irate", "increase", "sum", "max", "min", "avg", "count", "topk", "bottomk", "histogram_quantile",
    "clamp_min", "clamp_max", "time", "label_values", "abs", "delta", "deriv", "vector", "scalar",
    # keywords
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset", "bool",
}
kHistogramSuffixes = ("_bucket", "_sum", "_count")


def expressions(node) -> Iterator[str]:
    """Every PromQL string in the dashboard: targets' `expr` and query variables' queries."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield value
            elif key == "query" and isinstance(value, str) and "label_values" in value:
                yield value
            else:
                yield from expressions(value)
    elif isinstance(node, list):
        for item in node:
            yield from expressions(item)


def metric_names(expr: str) -> set[str]:
    """The metric names in a PromQL expression: identifiers that are not functions, keywords,
    label names (inside {} or by/without (...)), template variables, durations or numbers."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)          # string literals
    text = re.sub(r"\{[^}]*\}", "", text)                     # label matchers
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)                    # range durations
    text = re.sub(r"\$\{?\w+\}?", "", text)                   # Grafana variables
    text = re.sub(r"\b\d+(\.\d+)?(e[+-]?\d+)?\b", "", text)   # numbers
    label_values_label = re.findall(r"label_values\([^,]*,\s*(\w+)\)", expr)
    words = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", text))
    return words - kPromqlWords - set(label_values_label)


def grouping_labels(expr: str) -> set[str]:
    labels = set()
    for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        labels |= {w.strip() for w in group.split(",") if w.strip()}
    return labels


def exported(metrics_text: str) -> tuple[set[str], set[str]]:
    """Metric names (histograms with their _bucket/_sum/_count series) and label names."""
    names, labels = set(), {"instance", "job", "le"}  # Prometheus adds instance and job
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", metrics_text, re.M):
        names.add(name)
        if kind == "histogram":
            names |= {name + suffix for suffix in kHistogramSuffixes}
    for match in re.findall(r"^\w+\{([^}]*)\}", metrics_text, re.M):
        labels |= set(re.findall(r'(\w+)="', match))
    return names, labels


def problems(dashboard: dict, names: set[str], labels: set[str]) -> list[str]:
    found = []
    exprs = list(expressions(dashboard))
    if not exprs:
        found.append("no PromQL expression found")
    for expr in exprs:
        used = metric_names(expr)
        if not used:
            found.append(f"names no metric: {expr}")
        found += [f"{name} is not exported: {expr}" for name in sorted(used - names)]
        found += [f"label {label} is not exported: {expr}" for label in sorted(grouping_labels(expr) - labels)]
    return found


@pytest.fixture(scope="module")
def camproxy_metrics(camproxy_module) -> str:
    # Targets with a token: the token gauges have samples, so their labels are seen too.
    proxy = camproxy_module()
    status, body = proxy.admin_get("/metrics")
    assert status == 200
    return body.decode()


def test_every_dashboard_expression_names_exported_metrics(camproxy_metrics):
    dashboard = json.loads(kDashboard.read_text())
    names, labels = exported(camproxy_metrics)
    assert len(names) > 20, names
    assert not problems(dashboard, names, labels)


def test_the_check_catches_an_unknown_metric_or_label(camproxy_metrics):
    names, labels = exported(camproxy_metrics)
    bad = {"panels": [{"targets": [{"expr": 'sum by (reason) (rate(camproxy_nope_total{instance=~"$instance"}[5m]))'},
                                   {"expr": "sum by (colour) (camproxy_client_connections_open)"},
                                   {"expr": "1"}]}]}
    assert problems(bad, names, labels) == [
        'camproxy_nope_total is not exported: sum by (reason) (rate(camproxy_nope_total{instance=~"$instance"}[5m]))',
        "label colour is not exported: sum by (colour) (camproxy_client_connections_open)",
        "names no metric: 1",
    ]


def test_dashboard_covers_the_issue_topics():
    text = kDashboard.read_text()
    for metric in ("camproxy_client_connections_open", "camproxy_upstream_connections_open",
                   "camproxy_client_handshake_duration_seconds_bucket", "camproxy_token_age_seconds",
                   "camproxy_token_next_rotation_seconds", "camproxy_cam_requests_total",
                   "camproxy_client_connections_failed_total", "camproxy_pool_closes_total"):
        assert metric in text, metric
