"""MariaDB's own test suite through camproxy (tests/mtr/run_subset.py): a subset of
mysql-test-run's main suite run directly and through camproxy must give the same verdict for
every test, except the differences listed, with their reasons, in kAllowedDifferences and in
docs/compatibility.md.

2-3 minutes (two fresh servers side by side, 50 tests each way). Skipped under the sanitizer
builds (tests/sanitizers.sh) unless CAMPROXY_MTR=1; CAMPROXY_MTR=0 skips it everywhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

kRoot = Path(__file__).resolve().parents[2]
kRunner = kRoot / "tests" / "mtr" / "run_subset.py"
kDoc = kRoot / "docs" / "compatibility.md"
kRunTimeout = 900  # the whole run is 2-3 min; a hung test ends at mtr's own 2-minute limit

sys.path.insert(0, str(kRunner.parent))
import run_subset  # noqa: E402

kFlag = os.environ.get("CAMPROXY_MTR")
pytestmark = [
    pytest.mark.skipif(kFlag == "0", reason="CAMPROXY_MTR=0"),
    pytest.mark.skipif(bool(os.environ.get("CAMPROXY_SANITIZER")) and kFlag != "1",
                       reason="sanitizer build: set CAMPROXY_MTR=1 to run mysql-test-run here too"),
    pytest.mark.skipif(not Path(run_subset.kMtr).exists(),
                       reason="mariadb-test is installed by deploy/setup-debian.sh"),
]


def test_every_allowed_difference_is_documented():
    doc = kDoc.read_text()
    missing = [test for test in run_subset.kAllowedDifferences if f"`{test}`" not in doc]
    assert not missing, f"allowed differences not explained in {kDoc.name}: {missing}"


def test_subset_gives_the_same_verdicts_directly_and_through_camproxy(tmp_path):
    report = tmp_path / "mtr.json"
    result = subprocess.run([sys.executable, str(kRunner), "--json", str(report)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            timeout=kRunTimeout, check=False)
    assert result.returncode == 0, result.stdout[-20000:]
    rows = json.loads(report.read_text())
    assert sorted(rows) == sorted(run_subset.kSubset)
    # The comparison means something only if the tests ran: each one passes directly.
    not_passing = {test: row["direct"] for test, row in rows.items() if row["direct"]["result"] != "pass"}
    assert not not_passing, f"tests that no longer pass directly (choose others): {not_passing}"
