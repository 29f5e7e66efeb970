"""Backups that restore (issue #17), against a real MLflow server and state database: two
registered models with aliases, a schedule with a run, backed up by `python -m rayline.stack
backup` while MLflow runs, the home wiped, restored by `restore`, MLflow started again, and
everything a user sees compared: `backup_roundtrip_identical`.

The stack is its group's own (`mlflow_home` in tests/integration/conftest.py: MLflow only, no
Ray), in its own home: the wipe must not touch anyone else's data."""

from __future__ import annotations

import shutil
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from mlflow import MlflowClient

from rayline import datasets
from rayline.inference import run_model
from rayline.registry import CHALLENGER, CHAMPION, Registry
from rayline.settings import Settings
from rayline.stack.harness import LocalStack
from rayline.stack.services import down as stop_services
from rayline.stack.services import up_mlflow
from rayline.state import StateStore
from tests.integration.conftest import train_and_register

pytestmark = pytest.mark.integration

SCHEDULE = "nightly-iris"
SPEC = {"config": "configs/iris.yaml", "cron": "0 3 * * *"}
TRAINED = [
    # (model, dataset, family): iris gets two versions, the second its challenger
    ("iris_backup", "iris", "linear"),
    ("iris_backup", "iris", "knn"),
    ("diabetes_backup", "diabetes", "linear"),
]
SECRETS = {"api_keys": "admin:rl-admin-backup-test\n", "prometheus_key": "rl-predict-test\n"}


def _populate(settings: Settings) -> None:
    """The models and aliases, the schedule and a finished run of it, the home's keys."""
    versions = [(name, train_and_register(settings, name, *how)) for name, *how in TRAINED]
    registry = Registry(settings.tracking_uri)
    (iris_v1, iris_v2) = [version for name, version in versions if name == "iris_backup"]
    registry.set_alias("iris_backup", CHAMPION, iris_v1)
    registry.set_alias("iris_backup", CHALLENGER, iris_v2)
    registry.set_alias("diabetes_backup", CHAMPION, versions[-1][1])
    store = StateStore(settings.state_uri)
    try:
        store.put_schedule(SCHEDULE, SPEC, "api")
        run, _ = store.record_run(SCHEDULE, f"{SCHEDULE}-1", 1_700_000_000.0, "cron", 0)
        store.update_run(
            run.id, status="succeeded", outcome="trained", model="iris_backup", version=iris_v2
        )
    finally:
        store.close()
    for name, text in SECRETS.items():
        (settings.home / name).write_text(text)
        (settings.home / name).chmod(0o600)


def _inputs(source: str) -> pd.DataFrame:
    return datasets.load_builtin(source).drop(columns=["target"])


def roundtrip_view(settings: Settings) -> dict[str, Any]:
    """Everything the roundtrip must keep, as a user sees it: each model's predictions loaded
    through the registry by alias, the aliases and versions, the MLflow runs with their
    params, metrics and metric histories, the schedules and their runs, every row of every
    state table, and the home's key files."""
    registry = Registry(settings.tracking_uri)
    client: MlflowClient = registry.client
    view: dict[str, Any] = {"predictions": {}, "aliases": {}, "versions": {}, "runs": {}}
    for model in client.search_registered_models():
        view["aliases"][model.name] = dict(model.aliases)
        for alias in model.aliases:
            source = "iris" if model.name.startswith("iris") else "diabetes"
            loaded = registry.load(model.name, alias)
            answer = run_model(loaded, _inputs(source), want_proba=True)
            view["predictions"][f"{model.name}@{alias}"] = answer
        for version in registry.versions(model.name):
            view["versions"][f"{model.name}/{version.version}"] = {
                "run_id": version.run_id,
                "source": version.source,
                "status": version.status,
                "tags": dict(version.tags),
            }
    experiments = [e.experiment_id for e in client.search_experiments()]
    for run in client.search_runs(experiments, max_results=1000):
        view["runs"][run.info.run_id] = {
            "name": run.info.run_name,
            "status": run.info.status,
            "params": dict(run.data.params),
            "metrics": dict(run.data.metrics),
            "tags": dict(run.data.tags),
            "history": {
                key: [
                    (m.value, m.step, m.timestamp)
                    for m in client.get_metric_history(run.info.run_id, key)
                ]
                for key in run.data.metrics
            },
            "artifacts": sorted(f.path for f in client.list_artifacts(run.info.run_id)),
        }
    store = StateStore(settings.state_uri)
    try:
        view["schedules"] = [s.as_dict() for s in store.list_schedules()]
        view["schedule_runs"] = {
            s.name: [r.as_dict() for r in store.runs(s.name)[0]] for s in store.list_schedules()
        }
    finally:
        store.close()
    view["state_tables"] = _table_rows(settings.home / "state.db")
    view["secrets"] = {name: (settings.home / name).read_text() for name in SECRETS}
    return view


def _table_rows(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (API keys and the audit log too, once they are there)."""
    connection = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        names = [
            r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        return {
            name: sorted(connection.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr)  # noqa: S608
            for name in sorted(names)
        }
    finally:
        connection.close()


def _cli(stack: LocalStack, *args: str) -> tuple[int, str]:
    result = stack.run(sys.executable, "-m", "rayline.stack", *args, check=False, timeout=300)
    return result.returncode, result.stdout + result.stderr


def test_a_backup_taken_while_mlflow_runs_restores_identically(
    mlflow_home: LocalStack, tmp_path: Path
) -> None:
    settings = mlflow_home.settings
    up_mlflow(settings)
    _populate(settings)
    before = roundtrip_view(settings)
    assert set(before["aliases"]) == {"iris_backup", "diabetes_backup"}
    assert len(before["predictions"]) == 4 and len(before["runs"]) == 6
    assert before["schedule_runs"][SCHEDULE][0]["status"] == "succeeded"

    # A writer keeps the state database open, so its last transactions sit in the WAL file
    # that a copy of state.db alone would miss; the online backup must see them.
    writer = StateStore(settings.state_uri)
    try:
        writer.update_schedule(SCHEDULE, next_fire=1_800_000_000.0)
        assert (settings.home / "state.db-wal").stat().st_size > 0
        before = roundtrip_view(settings)
        backup = tmp_path / "backup"
        code, output = _cli(mlflow_home, "backup", str(backup))
        assert code == 0, output
    finally:
        writer.close()
    manifest = (backup / "manifest.json").read_text()
    assert '"state.db"' in manifest and '"home/api_keys"' in manifest

    # MLflow still runs: restore refuses and says what to do.
    code, output = _cli(mlflow_home, "restore", str(backup), "--force")
    assert code == 1 and "make down" in output and settings.tracking_uri in output, output

    stop_services(settings)
    shutil.rmtree(settings.home)
    code, output = _cli(mlflow_home, "restore", str(backup))
    assert code == 0, output
    # The server stores artifacts as mlflow-artifacts:/ URIs, relative to its destination:
    # nothing in the database names the old home, so a restore to another home works too.
    mlflow_db = sqlite3.connect(f"{(settings.home / 'mlflow.db').as_uri()}?mode=ro", uri=True)
    try:
        dump = "\n".join(mlflow_db.iterdump())
    finally:
        mlflow_db.close()
    assert str(settings.home) not in dump

    up_mlflow(settings)
    after = roundtrip_view(settings)
    for part in before:
        assert after[part] == before[part], part
    backup_roundtrip_identical = after == before
    assert backup_roundtrip_identical
