"""Restore a backup of the embedded stack (`rayline.stack.backup` makes and verifies them):
refused while the stack runs and over a home that holds data (unless `--force`); every file's
SHA-256 is checked against the manifest, the copies are staged next to their places and only
then swapped in.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rayline import procfs
from rayline.settings import Settings
from rayline.stack.backup import (
    ARTIFACTS,
    HOME_FILES,
    LOCATION_COLUMNS,
    MLFLOW_DB,
    SECRET_FILES,
    SQLITE_SIDECARS,
    STATE_DB,
    BackupError,
    Layout,
    _relative_files,
    verify,
)
from rayline.stack.supervisor import answers, stack_pids


def running_services(settings: Settings, layout: Layout) -> list[str]:
    """What of the stack runs now: its servers answering, the processes `up` recorded, and any
    process holding one of its databases open."""
    found = []
    probes = [
        ("the MLflow server", settings.tracking_uri, f"{settings.tracking_uri}/health"),
        ("the Ray head's dashboard", settings.ray_dashboard_url, settings.ray_dashboard_url),
        ("the Serve app", settings.serve_url, f"{settings.serve_url}/health"),
    ]
    for what, url, probe in probes:
        if answers(probe, timeout=1):
            found.append(f"{what} answers at {url}")
    try:
        recorded = stack_pids(settings)
    except (OSError, ValueError):
        recorded = []  # an unreadable started.json: the probes above and below still run
    found += [f"process {pid} ({_command(pid)}) that `make up` started" for pid in recorded]
    databases = {
        str(db) + suffix: db
        for db in (layout.mlflow_db, layout.state_db)
        for suffix in ("", *SQLITE_SIDECARS)
    }
    for pid, target in _open_files():
        if target in databases:
            found.append(f"process {pid} ({_command(pid)}) has {target} open")
    return found


def existing_data(layout: Layout) -> list[str]:
    """What in the target would be replaced by a restore."""
    found = [str(db) for db in (layout.mlflow_db, layout.state_db) if db.exists()]
    if layout.artifacts.is_dir() and any(layout.artifacts.iterdir()):
        files = sum(1 for _ in _relative_files(layout.artifacts))
        found.append(f"{layout.artifacts}/ ({files} files)")
    found += [str(layout.secret(name)) for name in SECRET_FILES if layout.secret(name).exists()]
    return found


def restore(settings: Settings, path: Path, force: bool = False) -> dict[str, Any]:
    """Put the backup in `path` back into the home `settings` name; returns its manifest."""
    layout = Layout.of(settings, "restore")
    running = running_services(settings, layout)
    if running:
        raise BackupError(
            "restore refused: the stack is running (" + "; ".join(running) + "). Stop it with "
            "`make down` (python -m rayline.stack down), then restore again"
        )
    there = existing_data(layout)
    if there and not force:
        raise BackupError(
            f"restore refused: the home {layout.home} already holds data: {', '.join(there)}. "
            "Restore into an empty RAYLINE_HOME, or pass --force to replace it (back it up "
            "first: python -m rayline.stack backup PATH)"
        )
    manifest = verify(path)
    _put_back(layout, path.resolve(), manifest)
    return manifest


def stale_locations(settings: Settings, manifest: dict[str, Any]) -> int:
    """How many artifact locations in the restored MLflow database are file paths into the
    backed-up home's artifacts folder when it was restored elsewhere (0 when restored in place,
    or when everything was logged through the server); those runs and models do not load."""
    layout = Layout.of(settings, "restore")
    old = str(manifest["source"]["artifacts"])
    if old == str(layout.artifacts):
        return 0
    db = sqlite3.connect(f"{layout.mlflow_db.as_uri()}?mode=ro", uri=True)
    try:
        found = 0
        for table, column in LOCATION_COLUMNS:
            columns = [row[1] for row in db.execute(f'PRAGMA table_info("{table}")')]
            if column in columns:
                # Names from LOCATION_COLUMNS; the path is a parameter.
                query = 'SELECT count(*) FROM "{}" WHERE instr("{}", ?) > 0'
                found += db.execute(query.format(table, column), (old,)).fetchone()[0]
        return found
    finally:
        db.close()


def _put_back(layout: Layout, path: Path, manifest: dict[str, Any]) -> None:
    """Copy every file next to its place (checking its hash again as it is read), then swap
    them in; a failure before the swap leaves the target as it was."""
    files: dict[str, Any] = manifest["files"]
    token = secrets.token_hex(4)
    layout.home.mkdir(parents=True, exist_ok=True)
    staged_files = layout.home / f".restore-{token}"
    staged_artifacts = layout.artifacts.parent / f".{layout.artifacts.name}.restore-{token}"
    places: list[tuple[Path, Path]] = []  # (staged, target), for single files
    try:
        staged_files.mkdir(mode=0o700)
        layout.artifacts.parent.mkdir(parents=True, exist_ok=True)
        staged_artifacts.mkdir()
        for name in files:
            parts = Path(name).parts
            if parts[0] == ARTIFACTS:
                staged = staged_artifacts.joinpath(*parts[1:])
            else:
                staged = staged_files / name
                places.append((staged, _target(layout, name)))
            staged.parent.mkdir(parents=True, exist_ok=True)
            _copy_checked(path / name, staged, files[name]["sha256"])
        # The swap: the old databases' WAL files would be replayed into the restored ones.
        for db in (layout.mlflow_db, layout.state_db):
            for suffix in ("", *SQLITE_SIDECARS):
                Path(str(db) + suffix).unlink(missing_ok=True)
        for name in SECRET_FILES:
            layout.secret(name).unlink(missing_ok=True)
        for staged, target in places:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, target)
        if layout.artifacts.exists():
            old = layout.artifacts.parent / f".{layout.artifacts.name}.old-{token}"
            layout.artifacts.rename(old)
            shutil.rmtree(old)
        staged_artifacts.rename(layout.artifacts)
    finally:
        shutil.rmtree(staged_files, ignore_errors=True)
        shutil.rmtree(staged_artifacts, ignore_errors=True)


def _target(layout: Layout, name: str) -> Path:
    if name == MLFLOW_DB:
        return layout.mlflow_db
    if name == STATE_DB:
        return layout.state_db
    folder, _, file = name.partition("/")
    if folder == HOME_FILES and file in SECRET_FILES:
        return layout.secret(file)
    raise BackupError(f"{name}: a backup holds no such file; use another backup")


def _copy_checked(source: Path, target: Path, sha256: str) -> None:
    digest = hashlib.sha256()
    with source.open("rb") as src, target.open("xb") as dst:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
            dst.write(chunk)
    if digest.hexdigest() != sha256:
        raise BackupError(
            f"{source} changed while it was restored (its SHA-256 differs from the manifest's); "
            "nothing was replaced. Use another backup"
        )
    shutil.copymode(source, target)


# --- helpers ---------------------------------------------------------------------------------


def _open_files() -> Iterator[tuple[int, str]]:
    """(pid, path) of every file the processes this user may inspect hold open."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                yield int(proc.name), os.readlink(fd)
            except OSError:
                continue


def _command(pid: int) -> str:
    return procfs.command(pid)[:80] or "?"
