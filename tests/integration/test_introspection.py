"""GET /debug/pools, GET /debug/sessions and POST /refresh-token on the admin endpoint
(docs/operations.md "Introspection"): what they show with real sessions open, the single
flight of a forced refresh, and that no answer ever holds a token or a key."""

from __future__ import annotations

import json
import subprocess
import threading

import pymysql

from camproxy_process import proxy_binary
from test_cam_emulator import fetch, fetch_password
from testutil import free_port, http_request, wait_until


def connect(proxy, **kwargs):
    params = dict(host="127.0.0.1", port=proxy.port, user="camtest", password="x", database="camdb",
                  connect_timeout=10, read_timeout=30, autocommit=True)
    params.update(kwargs)
    return pymysql.connect(**params)


def admin_json(proxy, path: str, method: str = "GET") -> tuple[int, dict]:
    headers = {"X-Camproxy-Admin": "1"} if method == "POST" else None  # proxy/admin_access.h
    status, body = http_request("127.0.0.1", proxy.admin_port, method, path, timeout=10, headers=headers)
    return status, json.loads(body) if body.startswith(b"{") else {"text": body.decode()}


def test_sessions_show_user_state_transaction_and_the_database_thread(camproxy, mariadb):
    proxy = camproxy("--workers", "2")
    with mariadb.admin() as direct, direct.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS camdb.introspection_t (id INT PRIMARY KEY) ENGINE=InnoDB")
    in_trx, idle = connect(proxy), connect(proxy)
    try:
        with in_trx.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("SELECT * FROM introspection_t FOR UPDATE")
        with idle.cursor() as cur:
            cur.execute("SELECT REPEAT('x', 1000)")
        status, doc = admin_json(proxy, "/debug/sessions")
        assert status == 200 and doc["complete"] is True and doc["missing_workers"] == 0
        sessions = doc["sessions"]
        assert len(sessions) == 2
        for s in sessions:
            assert s["target"] == "default" and s["worker"] in (0, 1)
            assert s["user"] == "camtest" and s["account"] == "camtest" and s["state"] == "relay"
            assert s["peer"].startswith("127.0.0.1:") and isinstance(s["id"], int)
            assert s["age_seconds"] >= 0 and s["bytes_from_client"] > 0 and s["bytes_to_client"] > 0
        # The database's own view, through a direct connection (CONNECTION_ID() through camproxy
        # is camproxy's id): the session in a transaction is the thread holding the InnoDB trx.
        with mariadb.admin() as direct, direct.cursor() as cur:
            cur.execute("SELECT trx_mysql_thread_id FROM information_schema.INNODB_TRX")
            (trx_thread,) = cur.fetchone()
        (open_trx,) = [s for s in sessions if s["in_transaction"]]
        assert open_trx["thread_id"] == trx_thread
        (other,) = [s for s in sessions if not s["in_transaction"]]
        assert other["thread_id"] != trx_thread and other["bytes_to_client"] > 1000
    finally:
        in_trx.close()
        idle.close()
    wait_until(lambda: admin_json(proxy, "/debug/sessions")[1]["sessions"] == [], 10, "the sessions to go")


def test_pools_show_keys_in_use_and_idle_connections_with_their_ages(camproxy, mariadb):
    proxy = camproxy("--workers", "1", "--pool-min-idle", "0")
    a, b = connect(proxy), connect(proxy)
    try:
        status, doc = admin_json(proxy, "/debug/pools")
        assert status == 200 and doc["complete"] is True
        (worker,) = doc["workers"]
        assert worker["target"] == "default" and worker["worker"] == 0 and worker["open"] == 2
        (key,) = [k for k in worker["keys"] if k["in_use"]]
        assert key["account"] == "camtest" and key["in_use"] == 2 and key["caps"].startswith("0x")
        assert key["mariadb_caps"] == "0x00000000", "PyMySQL asks for no MariaDB extended capability"
    finally:
        b.close()

    def one_idle():
        (w,) = admin_json(proxy, "/debug/pools")[1]["workers"]
        idle = [c for k in w["keys"] for c in k["connections"] if c["state"] == "idle"]
        return (w, idle) if len(idle) == 1 else None

    worker, (conn,) = wait_until(one_idle, 10, "the second client's connection back in the pool")
    (key,) = worker["keys"]
    assert key["idle"] == 1 and key["in_use"] == 1 and key["waiting"] == 0
    assert conn["schema"] == "camdb" and conn["age_seconds"] >= conn["idle_seconds"] >= 0
    with mariadb.admin() as direct, direct.cursor() as cur:
        cur.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'camtest'")
        server_threads = {row[0] for row in cur.fetchall()}
    sessions = admin_json(proxy, "/debug/sessions")[1]["sessions"]
    assert server_threads == {conn["thread_id"]} | {s["thread_id"] for s in sessions}
    a.close()


def test_refresh_token_fetches_now_and_racing_refreshes_share_one_call(camproxy, cam):
    proxy = camproxy()
    cam.control.reset_stats()
    status, doc = admin_json(proxy, "/refresh-token?account=camtest", "POST")
    assert status == 200, doc
    (outcome,) = doc["refreshed"]
    assert outcome["target"] == "default" and outcome["account"] == "camtest" and outcome["ok"] is True
    assert outcome["joined"] is False and "error_code" not in outcome
    assert cam.control.stats()["calls_total"] == 1

    # Two refreshes while the first one's CAM call is slow: one call, both get its outcome.
    cam.control.reset_stats()
    cam.control.fail("slow", count=1, delay_ms=1500)
    answers = []
    def refresh(path):
        answers.append(admin_json(proxy, path, "POST"))
    threads = [threading.Thread(target=refresh, args=(p,)) for p in ("/refresh-token", "/refresh-token?account=camtest")]
    threads[0].start()
    wait_until(lambda: cam.control.stats()["in_flight"] == 1, 5, "the first refresh's CAM call")
    threads[1].start()
    for t in threads:
        t.join(10)
    assert sorted(a[0] for a in answers) == [200, 200]
    outcomes = [a[1]["refreshed"][0] for a in answers]
    assert sorted(o["joined"] for o in outcomes) == [False, True] and all(o["ok"] for o in outcomes)
    assert cam.control.stats()["calls_total"] == 1


def test_refresh_token_answers_the_cam_error_and_refuses_what_it_does_not_know(camproxy, cam):
    proxy = camproxy()
    cam.control.fail("AuthFailure.UnauthorizedOperation", count=1)
    status, doc = admin_json(proxy, "/refresh-token", "POST")
    assert status == 502
    (outcome,) = doc["refreshed"]
    assert outcome["ok"] is False and outcome["error_code"] == "AuthFailure.UnauthorizedOperation"
    assert outcome["error_class"] == "user_notification"
    assert admin_json(proxy, "/refresh-token?account=nobody", "POST")[0] == 404
    assert admin_json(proxy, "/refresh-token?user=camtest", "POST")[0] == 400
    assert admin_json(proxy, "/refresh-token?account=%zz", "POST")[0] == 400
    assert admin_json(proxy, "/refresh-token", "GET")[0] == 405
    assert admin_json(proxy, "/debug/sessions", "POST")[0] == 405


def test_no_introspection_answer_shows_a_token_or_a_key(camproxy, cam):
    proxy = camproxy()
    conn = connect(proxy)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        refreshed = proxy.admin_post("/refresh-token", timeout=10)
        assert refreshed[0] == 200
        password, _ = fetch_password(cam)
        token_text = fetch(cam).json()["Response"]["Credentials"]["Token"]
        secrets = {"secret key": cam.credential.secret_key, "secret id": cam.credential.secret_id,
                   "database password": password, "token": token_text, "token prefix": token_text[:24]}
        answers = {"/refresh-token": refreshed[1].decode()}
        for path in ("/debug/targets", "/debug/pools", "/debug/sessions", "/debug/tokens"):
            status, body = http_request("127.0.0.1", proxy.admin_port, "GET", path, timeout=10)
            assert status == 200, path
            answers[path] = body.decode()
        for path, answer in answers.items():
            for what, secret in secrets.items():
                assert secret not in answer, f"{path} shows the {what}"
    finally:
        conn.close()


def test_the_read_only_listener_refuses_the_new_paths(camproxy):
    port = free_port()
    camproxy("--http-address", f"127.0.0.1:{port}")
    for path in ("/debug/pools", "/debug/sessions"):
        assert http_request("127.0.0.1", port, "GET", path)[0] == 404
    assert http_request("127.0.0.1", port, "POST", "/refresh-token")[0] == 405
    assert http_request("127.0.0.1", port, "GET", "/refresh-token")[0] == 404


# -- camproxy status ------------------------------------------------------------------------

def run_status(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([proxy_binary(), "status", *args], capture_output=True, text=True, timeout=30)


def test_status_prints_targets_tokens_pools_and_sessions(camproxy, cam):
    proxy = camproxy("--workers", "1")
    conn = connect(proxy)
    try:
        with conn.cursor() as cur:
            cur.execute("BEGIN")
        done = run_status("--admin", f"127.0.0.1:{proxy.admin_port}")
        assert done.returncode == 0, done.stderr
        out = done.stdout
        for title in ("TARGETS", "TOKENS", "POOLS", "SESSIONS"):
            assert f"\n{title}\n" in f"\n{out}", out
        sessions = out.split("\nSESSIONS\n")[1].splitlines()
        assert sessions[0].split() == ["TARGET", "WORKER", "ID", "USER", "PEER", "STATE", "THREAD", "IN_TRX",
                                       "AGE_S", "BYTES_IN", "BYTES_OUT"]
        (row,) = [line.split() for line in sessions[1:]]
        assert row[0] == "default" and row[3] == "camtest" and row[5] == "relay" and row[7] == "yes"
        assert cam.instance_id in out and cam.credential.secret_key not in out
    finally:
        conn.close()


def test_status_exits_1_with_a_clear_message_when_nothing_listens():
    port = free_port()
    done = run_status("--admin", f"127.0.0.1:{port}")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith(f"camproxy status: cannot reach the admin endpoint at 127.0.0.1:{port}"), done.stderr
    assert "refused" in done.stderr
    bad = run_status("--admin", "nowhere")
    assert bad.returncode == 2 and "expected HOST:PORT" in bad.stderr


# -- the metrics the dashboard's "errors by code" and "pool waits" panels read ---------------

def test_errors_are_counted_by_code(camproxy):
    proxy = camproxy()
    before = proxy.metric("camproxy_client_errors_total", code="1094")
    conn = connect(proxy)
    try:
        with conn.cursor() as cur:
            try:
                cur.execute("KILL 4000000000")
            except pymysql.err.OperationalError as e:
                assert e.args[0] == 1094
            else:
                raise AssertionError("KILL of an unknown id succeeded")
    finally:
        conn.close()
    assert proxy.metric("camproxy_client_errors_total", code="1094") == before + 1


def test_pool_waits_are_measured(camproxy):
    # One connection for everyone, clients one after the other as fast as they can: the next
    # client often arrives while the last one's connection is being reset, and waits for it.
    proxy = camproxy("--workers", "1", "--pool-min-idle", "0", "--pool-max", "1")
    for _ in range(10):
        for _ in range(100):
            connect(proxy).close()
        if proxy.metric("camproxy_pool_wait_duration_seconds_count") > 0:
            break
    assert proxy.metric("camproxy_pool_wait_duration_seconds_count") > 0
    assert proxy.metric("camproxy_pool_wait_duration_seconds_bucket", le="+Inf") > 0
    assert proxy.metric("camproxy_pool_waiting_clients") == 0
