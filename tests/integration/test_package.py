"""The Debian package (docs/operations.md "Debian package"): `cmake --build <build> --target
package` writes camproxy_<version>_<arch>.deb into the build directory; lintian finds no error
in it; it installs with dpkg, the installed binary runs (--version, --check-config on the
installed example, the man page), the installed unit verifies, and a purge leaves the machine
as it was (no camproxy user or group, no file).

It installs into the machine's own root: skipped where dpkg cannot be used as root, and
refused (failed) where a camproxy package is already installed.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from camproxy_process import proxy_binary

kRoot = Path(__file__).resolve().parents[2]
kVersion = re.search(r"project\(camproxy VERSION (\S+)", (kRoot / "CMakeLists.txt").read_text())[1]
kInstalledFiles = ["/usr/bin/camproxy", "/lib/systemd/system/camproxy.service", "/etc/camproxy/camproxy.yaml",
                   "/usr/share/doc/camproxy/copyright", "/usr/share/doc/camproxy/changelog.Debian.gz",
                   "/usr/share/man/man1/camproxy.1.gz"]
kLeftBehind = ["/usr/bin/camproxy", "/lib/systemd/system/camproxy.service", "/etc/camproxy",
               "/usr/share/doc/camproxy", "/usr/share/man/man1/camproxy.1.gz"]
kAccountFiles = ["/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow"]

pytestmark = pytest.mark.skipif(
    shutil.which("dpkg") is None or os.geteuid() != 0, reason="installing a .deb needs dpkg and root")


def run(command: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: run deploy/setup-debian.sh (tests/run.sh does)", pytrace=False)
    return path


def dpkg_installed(package: str) -> bool:
    result = run(["dpkg-query", "-W", "-f=${Status}", package])
    return result.returncode == 0 and "installed" in result.stdout.split()


def machine_state() -> dict[str, str]:
    """What the package may touch: the account files, and whether each of its paths exists."""
    state = {path: Path(path).read_text() for path in kAccountFiles if Path(path).exists()}
    state.update({path: str(os.path.lexists(path)) for path in kLeftBehind})
    return state


@pytest.fixture(scope="module")
def deb() -> Path:
    build_dir = Path(proxy_binary()).resolve().parents[1]
    assert (build_dir / "CMakeCache.txt").exists(), f"{build_dir} is not a CMake build tree"
    result = run(["cmake", "--build", str(build_dir), "--target", "package"], timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    path = build_dir / f"camproxy_{kVersion}_{arch}.deb"
    assert path.exists(), sorted(p.name for p in build_dir.glob("*.deb"))
    return path


def test_package_contents_and_lintian(deb):
    listing = run(["dpkg-deb", "-c", str(deb)]).stdout
    files = {"/" + line.split()[-1].removeprefix("./") for line in listing.splitlines() if not line.startswith("d")}
    assert set(kInstalledFiles) <= files, listing
    assert not any("include" in f or f.endswith(".a") for f in files), "only the program, not libraries"
    control = run(["dpkg-deb", "-I", str(deb), "conffiles"]).stdout.split()
    assert control == ["/etc/camproxy/camproxy.yaml"]
    lintian = run([require_tool("lintian"), "--no-tag-display-limit", str(deb)], timeout=600)
    errors = [line for line in lintian.stdout.splitlines() if line.startswith("E:")]
    assert not errors, lintian.stdout


def test_install_run_and_purge_leave_the_machine_as_it_was(deb):
    assert not dpkg_installed("camproxy"), "a camproxy package is installed: this test would replace it"
    before = machine_state()
    try:
        result = run(["dpkg", "-i", str(deb)])
        assert result.returncode == 0, result.stdout + result.stderr
        user = run(["getent", "passwd", "camproxy"]).stdout.split(":")
        assert len(user) == 7 and int(user[2]) < 1000 and user[6].strip().endswith("nologin"), user
        assert run(["getent", "group", "camproxy"]).returncode == 0
        for path in kInstalledFiles:
            assert Path(path).exists(), path
        version = run(["/usr/bin/camproxy", "--version"])
        assert version.returncode == 0 and version.stdout.strip() == f"camproxy {kVersion}", version
        check = run(["/usr/bin/camproxy", "--check-config", "/etc/camproxy/camproxy.yaml"])
        assert check.returncode == 0 and "configuration OK" in check.stdout, check.stdout + check.stderr
        man = gzip.decompress(Path("/usr/share/man/man1/camproxy.1.gz").read_bytes()).decode()
        assert man.startswith(".TH CAMPROXY 1") or "\n.TH CAMPROXY 1" in man
        verify = run([require_tool("systemd-analyze"), "verify", "/lib/systemd/system/camproxy.service"])
        assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr
        result = run(["dpkg", "--purge", "camproxy"])
        assert result.returncode == 0, result.stdout + result.stderr
        assert not dpkg_installed("camproxy")
        assert run(["getent", "passwd", "camproxy"]).returncode != 0, "the camproxy user outlived the purge"
        assert machine_state() == before
    finally:
        if dpkg_installed("camproxy") or run(["dpkg-query", "-W", "camproxy"]).returncode == 0:
            run(["dpkg", "--purge", "camproxy"])
