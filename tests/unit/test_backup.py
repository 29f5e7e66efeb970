"""Backup and restore of the embedded stack's home (`rayline.stack.backup`), without servers:
real SQLite databases and files; what restore refuses (a changed byte, a running stack, data
it would replace, production mode) and that it then touches nothing."""

from __future__ import annotations

import http.server
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from rayline.settings import Settings
from rayline.stack import cli
from rayline.stack.backup import BackupError, backup, verify
from rayline.stack.restore import restore, stale_locations
from rayline.stack.supervisor import free_ports
from rayline.state import StateStore

SPEC = {"config": "configs/iris.yaml", "cron": "0 3 * * *"}
ARTIFACT = "1/models/m-abc/artifacts/model.skops"


def settings_for(home: Path) -> Settings:
    """Embedded settings for `home` on ports nothing listens on (so no stack runs there)."""
    mlflow, dashboard, serve = free_ports(3)
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        mode="embedded",
        home=home,
        mlflow_port=mlflow,
        ray_dashboard_port=dashboard,
        serve_port=serve,
        mlflow_tracking_uri=None,
        mlflow_backend_uri=None,
        mlflow_artifacts_destination=None,
        state_database_uri=None,
    )


def populate(settings: Settings) -> None:
    """An MLflow database, a state database with a schedule and a run, artifacts, keys."""
    home = settings.home
    home.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(home / "mlflow.db")
    with db:
        db.execute("CREATE TABLE runs (run_uuid TEXT PRIMARY KEY, artifact_uri TEXT)")
        db.execute("INSERT INTO runs VALUES ('r1', 'mlflow-artifacts:/1/r1/artifacts')")
    db.close()
    store = StateStore(settings.state_uri)
    try:
        store.put_schedule("nightly", SPEC, "api")
        run, _ = store.record_run("nightly", "nightly-1", 1_700_000_000.0, "cron", 0)
        store.update_run(run.id, status="succeeded", outcome="trained")
    finally:
        store.close()
    artifact = home / "artifacts" / ARTIFACT
    artifact.parent.mkdir(parents=True)
    artifact.write_bytes(b"model bytes" * 100)
    (home / "api_keys").write_text("admin:rl-admin-unit\n")
    (home / "api_keys").chmod(0o600)
    (home / "credentials").write_text("predict:rl-predict-unit\n")
    (home / "credentials").chmod(0o600)


@pytest.fixture
def source(tmp_path: Path) -> Settings:
    settings = settings_for(tmp_path / "source")
    populate(settings)
    return settings


@pytest.fixture
def made(source: Settings, tmp_path: Path) -> Path:
    """A backup of `source`."""
    path = tmp_path / "backup"
    backup(source, path)
    return path


@pytest.fixture
def target(tmp_path: Path) -> Settings:
    """An empty home to restore into."""
    return settings_for(tmp_path / "target")


def files_of(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_a_backup_restores_into_an_empty_home(
    made: Path, source: Settings, target: Settings
) -> None:
    assert made.stat().st_mode & 0o777 == 0o700  # it holds keys
    manifest = restore(target, made)
    assert manifest["contents"]["secrets"] == ["api_keys", "credentials"]
    assert set(manifest["files"]) == {
        "mlflow.db", "state.db", f"artifacts/{ARTIFACT}", "home/api_keys", "home/credentials"
    }  # fmt: skip
    home = target.home
    assert files_of(home / "artifacts") == files_of(source.home / "artifacts")
    assert (home / "api_keys").read_text() == "admin:rl-admin-unit\n"
    assert (home / "credentials").stat().st_mode & 0o777 == 0o600
    store = StateStore(target.state_uri)
    try:
        assert [s.name for s in store.list_schedules()] == ["nightly"]
        assert store.runs("nightly")[0][0].status == "succeeded"
    finally:
        store.close()
    db = sqlite3.connect(home / "mlflow.db")
    assert db.execute("SELECT * FROM runs").fetchall() == [
        ("r1", "mlflow-artifacts:/1/r1/artifacts")
    ]
    db.close()
    assert sorted(p.name for p in home.iterdir()) == [
        "api_keys", "artifacts", "credentials", "mlflow.db", "state.db"
    ]  # fmt: skip


def test_a_backup_holds_the_state_written_to_the_wal_only(source: Settings, tmp_path: Path) -> None:
    # An open writer keeps its last transactions in state.db-wal: a copy of state.db misses
    # them, the online backup does not.
    writer = StateStore(source.state_uri)
    try:
        writer.put_schedule("hourly", {"every": "1h"}, "api")
        assert (source.home / "state.db-wal").stat().st_size > 0
        backup(source, tmp_path / "backup")
    finally:
        writer.close()
    target = settings_for(tmp_path / "target")
    restore(target, tmp_path / "backup")
    store = StateStore(target.state_uri)
    try:
        assert [s.name for s in store.list_schedules()] == ["hourly", "nightly"]
    finally:
        store.close()


@pytest.mark.parametrize("name", ["state.db", f"artifacts/{ARTIFACT}", "home/api_keys"])
def test_a_changed_byte_is_refused_naming_the_file(made: Path, target: Settings, name: str) -> None:
    data = bytearray((made / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (made / name).write_bytes(bytes(data))
    with pytest.raises(BackupError, match="does not match its manifest") as refused:
        restore(target, made)
    assert f"{made / name}: its SHA-256 differs" in str(refused.value)
    assert not target.home.exists()


def test_a_missing_an_added_or_an_unlisted_file_is_refused(made: Path, target: Settings) -> None:
    (made / "home" / "credentials").unlink()
    (made / "artifacts" / "extra.txt").write_text("not from the backup")
    with pytest.raises(BackupError) as refused:
        verify(made)
    assert f"{made / 'home/credentials'}: listed in the manifest but missing" in str(refused.value)
    assert f"{made / 'artifacts/extra.txt'}: not in the manifest" in str(refused.value)
    (made / "manifest.json").write_text('{"format": 1, "files": []}')
    with pytest.raises(BackupError, match="is not a Rayline backup manifest"):
        restore(target, made)
    (made / "manifest.json").unlink()
    with pytest.raises(BackupError, match="has no manifest.json"):
        restore(target, made)
    assert not target.home.exists()


def test_the_cli_refuses_a_tampered_backup_and_names_the_file(
    made: Path,
    target: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (made / "mlflow.db").write_bytes((made / "mlflow.db").read_bytes()[:-1] + b"\x01")
    for name, value in {
        "RAYLINE_MODE": "embedded",
        "RAYLINE_HOME": str(target.home),
        "RAYLINE_MLFLOW_PORT": str(target.mlflow_port),
        "RAYLINE_RAY_DASHBOARD_PORT": str(target.ray_dashboard_port),
        "RAYLINE_SERVE_PORT": str(target.serve_port),
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("RAYLINE_MLFLOW_TRACKING_URI", "RAYLINE_MLFLOW_BACKEND_URI",
                 "RAYLINE_MLFLOW_ARTIFACTS_DESTINATION", "RAYLINE_STATE_DATABASE_URI"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["restore", str(made)]) == 1
    assert f"{made / 'mlflow.db'}: its SHA-256 differs" in capsys.readouterr().err
    assert not target.home.exists()


def test_restore_over_existing_data_needs_force(made: Path, tmp_path: Path) -> None:
    target = settings_for(tmp_path / "target")
    target.home.mkdir()
    (target.home / "api_keys").write_text("admin:rl-admin-other\n")
    (target.home / "prometheus_key").write_text("rl-predict-other\n")
    (target.home / "state.db-wal").write_bytes(b"a stale WAL of another database")
    with pytest.raises(BackupError, match="already holds data") as refused:
        restore(target, made)
    assert str(target.home / "api_keys") in str(refused.value)
    assert "--force" in str(refused.value)
    assert (target.home / "api_keys").read_text() == "admin:rl-admin-other\n"

    restore(target, made, force=True)
    assert (target.home / "api_keys").read_text() == "admin:rl-admin-unit\n"
    # Not in the backup: gone, as the stale WAL (it would be replayed into the restored one).
    assert not (target.home / "prometheus_key").exists()
    assert not (target.home / "state.db-wal").exists()
    store = StateStore(target.state_uri)
    try:
        assert [s.name for s in store.list_schedules()] == ["nightly"]
    finally:
        store.close()


@pytest.fixture
def holder(source: Settings) -> Iterator[subprocess.Popen[str]]:
    """Another process with the source's state database open, as a running scheduler has."""
    code = (
        "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); "
        "db.execute('SELECT count(*) FROM schedules').fetchall(); print('open', flush=True); "
        "sys.stdin.read()"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(source.home / "state.db")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == "open\n"
        yield process
    finally:
        if process.stdin is not None:
            process.stdin.close()
        process.wait(timeout=30)


def test_restore_is_refused_while_a_process_holds_the_database(
    made: Path, source: Settings, holder: subprocess.Popen[str]
) -> None:
    with pytest.raises(BackupError, match="the stack is running") as refused:
        restore(source, made, force=True)
    message = str(refused.value)
    assert f"process {holder.pid}" in message and str(source.home / "state.db") in message
    assert "make down" in message


def test_restore_is_refused_while_mlflow_answers(made: Path, target: Settings) -> None:
    server = http.server.HTTPServer(
        ("127.0.0.1", target.mlflow_port), http.server.BaseHTTPRequestHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(BackupError, match="the stack is running") as refused:
            restore(target, made)
    finally:
        server.shutdown()
        server.server_close()
    assert f"the MLflow server answers at {target.tracking_uri}" in str(refused.value)
    assert "make down" in str(refused.value)
    assert not target.home.exists()


def test_production_mode_is_refused_with_the_readme_procedure(tmp_path: Path) -> None:
    production = Settings(
        _env_file=None,  # type: ignore[call-arg]
        mode="production",
        home=tmp_path,
        mlflow_backend_uri="postgresql://mlflow@127.0.0.1:5432/mlflow",
        mlflow_artifacts_destination="s3://rayline-artifacts/mlflow",
        api_keys="admin:rl-admin-prod",
        state_database_uri="postgresql://rayline@127.0.0.1:5432/rayline",
    )
    readme = 'README.md, section "Backup and restore"'
    with pytest.raises(BackupError, match=readme) as refused:
        backup(production, tmp_path / "b")
    assert "RAYLINE_MODE=production" in str(refused.value)
    with pytest.raises(BackupError, match=readme) as refused:
        restore(production, tmp_path)
    assert "RAYLINE_MODE=production" in str(refused.value)
    assert not (tmp_path / "b").exists()


def test_backup_never_writes_over_a_folder(source: Settings, made: Path) -> None:
    before = files_of(made)
    with pytest.raises(BackupError, match="not an empty folder"):
        backup(source, made)
    assert files_of(made) == before
    assert [p.name for p in made.parent.iterdir() if ".partial-" in p.name] == []


def test_file_paths_into_the_old_home_are_counted_when_restored_elsewhere(
    source: Settings, tmp_path: Path
) -> None:
    # A run logged without the server stores the artifacts folder's absolute path.
    old = source.home.resolve() / "artifacts" / "1" / "r2" / "artifacts"
    db = sqlite3.connect(source.home / "mlflow.db")
    with db:
        db.execute("INSERT INTO runs VALUES ('r2', ?)", (str(old),))
    db.close()
    backup(source, tmp_path / "backup")
    elsewhere = settings_for(tmp_path / "elsewhere")
    assert stale_locations(elsewhere, restore(elsewhere, tmp_path / "backup")) == 1
    shutil.rmtree(source.home)
    assert stale_locations(source, restore(source, tmp_path / "backup")) == 0
