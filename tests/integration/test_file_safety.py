"""Files camproxy trusts (proxy/config/file_safety.h, docs/security.md "Files"): a secret or
config file that its group or others may write, or that belongs to another user, is refused at
start with its name and mode, and on a reload (the running configuration stays); a secret others
may read is logged as a warning."""

from __future__ import annotations

import json
import os

import pytest

from test_access import start_fails

kUnsafeModes = (0o620, 0o602, 0o666)


def trusted_files(tmp_path):
    """(what the message calls it, path, flags that make camproxy read it) for each kind of file."""
    def made(name: str, text: str):
        path = tmp_path / name
        path.write_text(text)
        path.chmod(0o600)
        return path
    users = made("users", "app:plain:secret\n")
    fallback = made("fallback", "fallback-password\n")
    profile = made("credentials", "[default]\nsecret_id = AKID-x\nsecret_key = y\n")
    key, cert = made("key.pem", "not a key\n"), made("cert.pem", "not a cert\n")
    ca = made("ca.pem", "not a ca\n")
    config = made("camproxy.yaml", "targets:\n  - upstream: 127.0.0.1:1\n")
    return [
        ("users file", users, ["--users-file", str(users)]),
        ("fallback password file", fallback, ["--fallback-password-file", str(fallback)]),
        ("credentials file", profile, ["--credential-source", "profile", "--credentials-file", str(profile)]),
        ("client TLS key", key, ["--client-tls-key", str(key), "--client-tls-cert", str(cert)]),
        ("client TLS certificate", cert, ["--client-tls-key", str(key), "--client-tls-cert", str(cert)]),
        ("upstream CA file", ca, ["--upstream-ca-file", str(ca)]),
        ("config file", config, ["--config", str(config)]),
    ]


@pytest.mark.parametrize("mode", kUnsafeModes, ids=oct)
def test_a_file_others_may_write_is_refused(tmp_path, mode):
    for what, path, flags in trusted_files(tmp_path):
        path.chmod(mode)
        status, stderr = start_fails(*flags)
        expected = f"{what} {path} (mode {mode:04o}, owner uid {os.geteuid()}) may be written by its group or others"
        assert status == 2 and expected in stderr, (what, stderr)
        path.chmod(0o600)


def test_a_file_of_another_user_is_refused(tmp_path):
    for what, path, flags in trusted_files(tmp_path):
        os.chown(path, 65534, 65534)
        status, stderr = start_fails(*flags)
        assert status == 2 and f"{what} {path} (mode 0600, owner uid 65534) belongs to neither camproxy's user" \
            in stderr, (what, stderr)
        os.chown(path, os.geteuid(), os.getegid())


def test_a_secret_others_may_read_is_a_warning(camproxy, cam, tmp_path):
    profile = tmp_path / "credentials"
    profile.write_text(f"[default]\nsecret_id = {cam.credential.secret_id}\nsecret_key = {cam.credential.secret_key}\n")
    profile.chmod(0o644)
    proxy = camproxy("--credential-source", "profile", "--credentials-file", str(profile),
                     env={"TENCENTCLOUD_SECRET_ID": None, "TENCENTCLOUD_SECRET_KEY": None})
    warnings = [json.loads(line) for line in proxy.log_text().splitlines() if "file_readable_by_others" in line]
    assert len(warnings) == 1, proxy.log_text()
    assert warnings[0]["level"] == "warn"
    assert warnings[0]["file"].startswith(f"credentials file {profile} (mode 0644")


def test_a_reload_keeps_the_running_configuration_when_the_file_became_writable(camproxy, tmp_path):
    config = tmp_path / "camproxy.yaml"
    config.write_text("targets:\n  - upstream: 127.0.0.1:1\n")
    config.chmod(0o644)
    proxy = camproxy("--config", str(config))
    config.chmod(0o664)
    status, body = proxy.admin_post("/reload")
    assert status == 422, body
    assert f"config file {config} (mode 0664" in json.loads(body)["error"]
    assert "reload_rejected" in proxy.log_text()
    assert proxy.admin_get("/readyz")[0] == 200
