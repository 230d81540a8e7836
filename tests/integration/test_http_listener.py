"""The read-only HTTP listener (--http-address): the probe and scrape GETs answer like the admin
endpoint's, everything that changes something or shows more is refused there, and the admin
endpoint keeps all of it."""

from __future__ import annotations

from testutil import free_port, http_request


def test_http_listener_serves_only_the_probe_and_scrape_gets(camproxy):
    http_port = free_port()
    proxy = camproxy("--http-address", f"127.0.0.1:{http_port}", "--admin-quitquitquit", "on")

    def on_http(method, path):
        return http_request("127.0.0.1", http_port, method, path)

    for path, expected in (("/startup", b"started"), ("/healthz", b"ok"), ("/readyz", b"ready")):
        status, body = on_http("GET", path)
        assert status == 200, (path, body)
        assert body.startswith(expected), (path, body)
        assert proxy.admin_get(path)[0] == 200
    status, metrics = on_http("GET", "/metrics")
    assert status == 200
    assert b"camproxy_build_info" in metrics

    # Nothing that changes the process, nothing beyond counters.
    assert on_http("POST", "/quitquitquit")[0] == 405
    assert on_http("GET", "/quitquitquit")[0] == 404
    assert on_http("GET", "/debug/tokens")[0] == 404
    assert on_http("GET", "/debug/targets")[0] == 404
    assert on_http("POST", "/reload")[0] == 405
    assert on_http("PUT", "/metrics")[0] == 405
    assert proxy.admin_get("/healthz")[0] == 200, "the POST on the http listener must not have drained"

    # The admin endpoint still has them: /quitquitquit last, it stops the process.
    assert http_request("127.0.0.1", proxy.admin_port, "GET", "/nope")[0] == 404
    assert proxy.admin_post("/quitquitquit")[0] == 200
    assert proxy._proc.wait(timeout=30) == 0


def test_http_listener_is_off_by_default(camproxy):
    proxy = camproxy()
    assert '"http":"off"' in proxy.log_text().replace(" ", "")
