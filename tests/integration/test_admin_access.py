"""Who may drive the admin endpoint (proxy/admin_access.h, docs/security.md): POST /quitquitquit
is off unless --admin-quitquitquit on; a web page in a browser on the host cannot stop camproxy
(cross-site form) or read it (DNS rebinding: its own name as Host); an operator's POST with the
X-Camproxy-Admin header does (test_lifecycle.py, test_quitquitquit_exits_0)."""

from __future__ import annotations

import socket

from testutil import http_request

CROSS_SITE_FORM = {"Origin": "http://evil.example", "Content-Type": "application/x-www-form-urlencoded"}


def raw_request(port: int, head: bytes) -> int:
    """Sends `head` as is (no Host unless it holds one); the answer's status."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(head)
        answer = b""
        while b"\r\n" not in answer:
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def test_quitquitquit_is_off_by_default(camproxy):
    proxy = camproxy()
    status, body = proxy.admin_post("/quitquitquit")
    assert status == 403 and b"--admin-quitquitquit" in body, body
    assert proxy.admin_get("/healthz")[0] == 200 and proxy.returncode is None


def test_a_cross_site_form_leaves_camproxy_running(camproxy):
    proxy = camproxy("--admin-quitquitquit", "on")
    status, body = http_request("127.0.0.1", proxy.admin_port, "POST", "/quitquitquit", headers=CROSS_SITE_FORM)
    assert status == 403 and b"Origin 'http://evil.example'" in body, body
    # The same form from a page on the host itself still lacks the header a page cannot send cross-site.
    status, body = http_request("127.0.0.1", proxy.admin_port, "POST", "/quitquitquit",
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 403 and b"X-Camproxy-Admin: 1" in body, body
    assert raw_request(proxy.admin_port, b"POST /quitquitquit HTTP/1.0\r\nX-Camproxy-Admin: 1\r\n\r\n") == 403
    assert http_request("127.0.0.1", proxy.admin_port, "POST", "/reload", headers=CROSS_SITE_FORM)[0] == 403
    assert proxy.admin_get("/healthz")[0] == 200 and proxy.returncode is None
    assert "drain_started" not in proxy.log_text()


def test_a_foreign_host_is_refused_on_every_path(camproxy):
    proxy = camproxy()
    for path in ("/debug/targets", "/debug/tokens", "/metrics", "/healthz"):
        status, body = http_request("127.0.0.1", proxy.admin_port, "GET", path, headers={"Host": "evil.example"})
        assert status == 403 and b"Host 'evil.example' is not a loopback address" in body, (path, body)
    for host in ("localhost", f"127.0.0.1:{proxy.admin_port}", f"[::1]:{proxy.admin_port}"):
        assert http_request("127.0.0.1", proxy.admin_port, "GET", "/debug/targets", headers={"Host": host})[0] == 200
    assert raw_request(proxy.admin_port, b"GET /healthz HTTP/1.0\r\n\r\n") == 200  # a probe without Host

