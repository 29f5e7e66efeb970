"""The product (rayline/ and the Ray Jobs) imports neither the harnesses nor the Serve app: the
wheel ships without bench/ and tests/, and a job or the core runs where Serve is not deployed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rayline.settings import PROJECT_ROOT

FORBIDDEN = ("bench", "tests", "serve_app")

# Imports each module in turn in a fresh interpreter and reports, per module, the forbidden
# modules that appeared while importing it (a module already pulled in by an earlier one is
# charged to that one: every forbidden import is still reported once).
PROBE = """
import importlib, json, sys
forbidden = set(sys.argv[2].split(","))
seen = set()
found = {}
for name in sys.argv[1].split(","):
    importlib.import_module(name)
    new = sorted(m for m in sys.modules if m.split(".")[0] in forbidden and m not in seen)
    seen.update(new)
    if new:
        found[name] = new
print(json.dumps(found))
"""


def rayline_modules() -> list[str]:
    """`rayline` and every module below it, found on disk (importing them is the test)."""
    root = PROJECT_ROOT / "rayline"
    names = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
        inside = parts[parts.index("migrations") + 1 :] if "migrations" in parts else ()
        if inside and inside != ("__init__",):
            continue  # Alembic's env.py and revisions are scripts Alembic runs, not imports
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def imported_forbidden(
    modules: list[str], forbidden: tuple[str, ...] = FORBIDDEN
) -> dict[str, list[str]]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(modules), ",".join(forbidden)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    found: dict[str, list[str]] = json.loads(result.stdout.splitlines()[-1])
    return found


def test_rayline_modules_are_found() -> None:
    names = rayline_modules()
    assert {"rayline", "rayline.keys", "rayline.ray_api", "rayline.benchmarking.loadgen"} <= set(
        names
    )
    assert not any(".migrations." in n for n in names)


@pytest.mark.parametrize(
    "modules",
    [rayline_modules(), ["jobs.train"], ["jobs.benchmark"], ["jobs.batch_predict"]],
    ids=["rayline", "jobs.train", "jobs.benchmark", "jobs.batch_predict"],
)
def test_product_imports_no_harness_and_no_serve_app(modules: list[str]) -> None:
    assert imported_forbidden(modules) == {}


def test_a_trial_worker_imports_no_mlflow_and_no_job_driver() -> None:
    """`jobs.trial` is what each trial's worker imports: scikit-learn and Tune, not MLflow."""
    probe = "import sys, jobs.trial; print(sorted(m for m in sys.modules if m.startswith(("
    probe += "'mlflow', 'jobs.train', 'rayline.training', 'rayline.registry'))))"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert result.stdout.splitlines()[-1] == "[]", result.stdout[-2000:]


def test_scoring_core_imports_no_ray() -> None:
    """Rows, the signature check and predict run wherever scikit-learn does, Ray or not."""
    core = ["rayline.errors", "rayline.rows", "rayline.inference"]
    assert imported_forbidden(core, ("ray", *FORBIDDEN)) == {}


def test_the_probe_sees_a_forbidden_import() -> None:
    # bench.train_config is a harness module: the probe must report it, or the tests above
    # would pass whatever the product imported.
    assert imported_forbidden(["rayline", "bench.train_config"]) == {
        "bench.train_config": ["bench", "bench.train_config"]
    }
