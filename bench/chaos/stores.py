"""The stores part of `make chaos` (issue #17 parts 3 and 4): the store faults and the backup
round trip, recorded as keys of bench/results/reliability.json.

Each of them needs a stack of its own, not the chaos stack: PostgreSQL restarted and S3 killed
need the production cluster (its own PostgreSQL server and SeaweedFS,
tests/integration/production/cluster.py), a full disk needs a small filesystem under the
artifact store, and the backup test wipes its stack and restores it. So each is one pytest test,
written once, and this part runs the four in a child pytest after the chaos stack's own phases,
reading their outcomes from pytest's JUnit XML. `make test` runs the same tests.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TESTS = {
    "pg_restart_clean": "tests/integration/production/test_store_faults.py::"
    "test_a_postgresql_restart_while_a_job_registers_leaves_no_half_registered_version",
    "s3_outage_old_version_serves": "tests/integration/production/test_store_faults.py::"
    "test_an_s3_outage_while_an_alias_moves_keeps_the_old_version_serving",
    "disk_full_clean": "tests/integration/test_disk_full.py::"
    "test_a_full_artifact_store_fails_registration_clearly_and_corrupts_nothing",
    "backup_roundtrip_identical": "tests/integration/test_backup.py::"
    "test_a_backup_taken_while_mlflow_runs_restores_identically",
}
"""Each key of the report, and the test whose outcome it is."""
PYTEST = ("-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", *TESTS.values())
TIMEOUT_S = 1200


def outcomes(junit: Path) -> dict[str, dict[str, Any]]:
    """Per test function name: its outcome (passed, failed, error, skipped), seconds, and the
    first 2000 characters of what pytest reported for one that did not pass."""
    found: dict[str, dict[str, Any]] = {}
    # The report our own child pytest wrote, not untrusted input.
    for case in ElementTree.parse(junit).getroot().iter("testcase"):  # noqa: S314
        outcome, message = "passed", ""
        for kind in ("failure", "error", "skipped"):
            child = case.find(kind)
            if child is not None:
                outcome = "failed" if kind == "failure" else kind
                message = (child.get("message") or "") + "\n" + (child.text or "")
                break
        found[case.get("name", "")] = {
            "outcome": outcome,
            "seconds": round(float(case.get("time", "0")), 1),
            **({"message": message.strip()[:2000]} if message.strip() else {}),
        }
    return found


def _name(test_id: str) -> str:
    return test_id.rpartition("::")[2]


def keys_of(seen: dict[str, dict[str, Any]]) -> dict[str, bool]:
    """Each key: whether its test passed (failed, skipped and never run are all false)."""
    return {
        key: seen.get(_name(test_id), {}).get("outcome") == "passed"
        for key, test_id in TESTS.items()
    }


def stores_phase() -> dict[str, Any]:
    """Run the four tests in one child pytest (in file order, no random order) and report
    each key as whether its test passed."""
    with tempfile.TemporaryDirectory(prefix="rayline-chaos-stores-") as scratch:
        junit = Path(scratch) / "junit.xml"
        finished = subprocess.run(
            [sys.executable, *PYTEST, f"--junitxml={junit}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
        seen = outcomes(junit) if junit.exists() else {}
    result: dict[str, Any] = {
        "command": " ".join(["python", *PYTEST]),
        "exit_code": finished.returncode,
        "tests": {
            key: {"test": test_id, **seen.get(_name(test_id), {"outcome": "not run"})}
            for key, test_id in TESTS.items()
        },
        **keys_of(seen),
    }
    if finished.returncode != 0:
        result["output_tail"] = (finished.stdout + finished.stderr)[-4000:]
    return result
