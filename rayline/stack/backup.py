"""Backups of the embedded stack that restore: both SQLite databases, the MLflow artifacts and
the home's key files, with a manifest that restore checks before it touches anything.

    python -m rayline.stack backup PATH
    python -m rayline.stack restore PATH [--force]

`backup` runs while MLflow and Serve run: the databases are copied with SQLite's online backup
API (a consistent snapshot, whatever the WAL holds), never as files. `restore` refuses while
the stack runs and over a home that holds data (unless `--force`), verifies every file's SHA-256
against `manifest.json`, stages the copies next to their places, and only then swaps them in.

Production (PostgreSQL + S3) is backed up with the databases' and the bucket's own tools; the
README's "Backup and restore" section has the procedure, and both commands point there.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from rayline.settings import Settings

FORMAT = 1
"""Version of the backup layout and manifest; restore refuses a format it does not know."""
MANIFEST = "manifest.json"
MLFLOW_DB = "mlflow.db"
STATE_DB = "state.db"
ARTIFACTS = "artifacts"
HOME_FILES = "home"
"""The backup's folder for the home's key files."""
SECRET_FILES = ("api_keys", "credentials", "prometheus_key")
"""Files of the home that hold keys or credentials; a backup holds each one that exists."""
SQLITE_SIDECARS = ("-wal", "-shm", "-journal")
SQLITE_BUSY_TIMEOUT_S = 30.0
"""How long the snapshot waits for a writer (MLflow, the scheduler) to finish a transaction."""
README_SECTION = 'README.md, section "Backup and restore"'
LOCATION_COLUMNS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("model_versions", "source"),
    ("model_versions", "storage_location"),
    ("logged_models", "artifact_location"),
)
"""Where MLflow's database keeps artifact locations: `mlflow-artifacts:/` URIs (relative to the
server's artifacts destination) when logged through the server, file paths otherwise."""


class BackupError(RuntimeError):
    """A backup or restore cannot go on; the message says what and what to do."""


@dataclass(frozen=True)
class Layout:
    """Where the embedded stack keeps what a backup holds."""

    home: Path
    mlflow_db: Path
    state_db: Path
    artifacts: Path

    @classmethod
    def of(cls, settings: Settings, command: str) -> Layout:
        """The layout `settings` give; BackupError for what only the README's procedure backs
        up (production mode, a PostgreSQL database, S3 artifacts)."""
        if settings.mode == "production":
            raise BackupError(
                f"`{command}` backs up the embedded stack (SQLite and local files) only; "
                f"RAYLINE_MODE=production keeps its data in PostgreSQL and S3: follow "
                f"{README_SECTION} (pg_dump of both databases, a sync of the artifact bucket)"
            )
        artifacts = settings.artifacts_destination
        if "://" in artifacts:
            raise BackupError(
                f"RAYLINE_MLFLOW_ARTIFACTS_DESTINATION is {artifacts}, not a local folder: "
                f"`{command}` copies local artifacts only; follow {README_SECTION}"
            )
        return cls(
            home=settings.home.resolve(),
            mlflow_db=_sqlite_path(
                settings.backend_uri, "RAYLINE_MLFLOW_BACKEND_URI", command
            ).resolve(),
            state_db=_sqlite_path(
                settings.state_uri, "RAYLINE_STATE_DATABASE_URI", command
            ).resolve(),
            artifacts=Path(artifacts).resolve(),
        )

    def secret(self, name: str) -> Path:
        return self.home / name


def _sqlite_path(uri: str, variable: str, command: str) -> Path:
    try:
        url = make_url(uri)
    except ArgumentError:
        raise BackupError(f"{variable} is not a database URL; use sqlite:///<path>") from None
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise BackupError(
            f"{variable} names a {url.get_backend_name()} database: `{command}` handles SQLite "
            f"files only; back it up with its own tools as {README_SECTION} describes"
        )
    return Path(url.database)


# --- backup ----------------------------------------------------------------------------------


def backup(settings: Settings, path: Path) -> dict[str, Any]:
    """Copy the stack's data into the new folder `path`; returns the manifest written there.

    The folder appears complete or not at all: everything is written into a hidden sibling and
    renamed into place after its manifest."""
    layout = Layout.of(settings, "backup")
    path = path.resolve()
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise BackupError(
            f"{path} already exists and is not an empty folder: give a new folder, backups "
            "are never written over"
        )
    if path.is_relative_to(layout.artifacts):
        raise BackupError(
            f"{path} lies inside the MLflow artifacts folder {layout.artifacts}, which the "
            "backup copies: give a folder outside it"
        )
    if not layout.mlflow_db.is_file():
        raise BackupError(
            f"no MLflow database at {layout.mlflow_db}: nothing to back up; check RAYLINE_HOME "
            f"(now {layout.home}); `make up` creates the database"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.parent / f".{path.name}.partial-{secrets.token_hex(4)}"
    staging.mkdir(mode=0o700)
    try:
        contents = _write_backup(layout, staging)
        manifest = {
            "format": FORMAT,
            "rayline_version": _version("rayline"),
            "mlflow_version": _version("mlflow"),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "source": {
                "home": str(layout.home),
                "mlflow_db": str(layout.mlflow_db),
                "state_db": str(layout.state_db),
                "artifacts": str(layout.artifacts),
            },
            "contents": contents,
            "files": {
                name: {"sha256": _sha256(staging / name), "bytes": (staging / name).stat().st_size}
                for name in sorted(_relative_files(staging))
            },
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        if path.exists():
            path.rmdir()  # empty, checked above
        staging.rename(path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _write_backup(layout: Layout, folder: Path) -> dict[str, Any]:
    """The copies, in the order that keeps them consistent: each later one holds everything the
    earlier ones name. The state database names MLflow runs and versions, which exist before
    it does; MLflow's rows name artifacts, which are written before the rows and never changed
    (artifacts written since are harmless extras)."""
    contents: dict[str, Any] = {"state_db": None}  # None: no schedule or key was ever written
    if layout.state_db.is_file():
        tables = _snapshot(layout.state_db, folder / STATE_DB)
        contents["state_db"] = {"file": STATE_DB, "tables": tables}
    tables = _snapshot(layout.mlflow_db, folder / MLFLOW_DB)
    contents["mlflow_db"] = {"file": MLFLOW_DB, "tables": tables}
    count = size = 0
    if layout.artifacts.is_dir():
        for name in _relative_files(layout.artifacts):
            target = folder / ARTIFACTS / name
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copy2(layout.artifacts / name, target)
            except FileNotFoundError:
                continue  # deleted since the walk (`mlflow gc`): no row of the snapshot needs it
            count, size = count + 1, size + target.stat().st_size
    contents["artifacts"] = {"folder": ARTIFACTS, "files": count, "bytes": size}
    found = [name for name in SECRET_FILES if layout.secret(name).is_file()]
    for name in found:
        (folder / HOME_FILES).mkdir(mode=0o700, exist_ok=True)
        shutil.copy2(layout.secret(name), folder / HOME_FILES / name)
    contents["secrets"] = found
    return contents


def _snapshot(source: Path, target: Path) -> dict[str, int]:
    """Copy the live SQLite database `source` to `target` with the online backup API, in one
    step (one read transaction, so one consistent state); returns its tables' row counts."""
    # mode=rw: never create a database that is not there.
    src = sqlite3.connect(f"{source.as_uri()}?mode=rw", uri=True, timeout=SQLITE_BUSY_TIMEOUT_S)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            check = dst.execute("PRAGMA integrity_check").fetchone()[0]
            if check != "ok":
                raise BackupError(f"the copy of {source} fails SQLite's integrity check: {check}")
            return _row_counts(dst)
        finally:
            dst.close()
    finally:
        src.close()


def _row_counts(db: sqlite3.Connection) -> dict[str, int]:
    names = [
        row[0]
        for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
    ]
    # The names come from sqlite_master, not from a user.
    count = 'SELECT count(*) FROM "{}"'
    return {name: db.execute(count.format(name)).fetchone()[0] for name in names}


# --- verify ----------------------------------------------------------------------------------


def verify(path: Path) -> dict[str, Any]:
    """The backup's manifest, once every file it lists is there with its size and SHA-256 and
    nothing else is; BackupError naming each file that is not."""
    path = path.resolve()
    if not path.is_dir():
        raise BackupError(f"no backup at {path}: give the folder `backup` wrote")
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise BackupError(
            f"{path} has no {MANIFEST}, which a backup writes last: it is not a complete "
            "Rayline backup; use another backup"
        )
    try:
        manifest = json.loads(manifest_path.read_text())
        fmt, files, contents = manifest["format"], manifest["files"], manifest["contents"]
        if not all(isinstance(entry, dict) for entry in (files, contents, *files.values())):
            raise TypeError("files and contents must be objects")
        if not isinstance(manifest["source"]["artifacts"], str):
            raise TypeError("source.artifacts must be a path")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BackupError(
            f"{manifest_path} is not a Rayline backup manifest ({exc}): use another backup"
        ) from None
    if fmt != FORMAT:
        raise BackupError(
            f"{manifest_path}: format {fmt!r}, this Rayline restores format {FORMAT}; restore it "
            f"with the Rayline version that made it ({manifest.get('rayline_version')})"
        )
    problems = []
    for name, expected in sorted(files.items()):
        file = path / name
        if not _restorable(name):
            problems.append(f"{path / name}: not a file a backup holds")
        elif not file.is_file():
            problems.append(f"{file}: listed in the manifest but missing")
        elif file.stat().st_size != expected.get("bytes"):
            problems.append(
                f"{file}: {file.stat().st_size} bytes, the manifest says {expected.get('bytes')}"
            )
        elif _sha256(file) != expected.get("sha256"):
            problems.append(f"{file}: its SHA-256 differs from the manifest's")
    listed = set(files) | {MANIFEST}
    problems += [
        f"{path / name}: not in the manifest"
        for name in _relative_files(path)
        if name not in listed
    ]
    needed = [MLFLOW_DB] + ([STATE_DB] if contents.get("state_db") else [])
    needed += [f"{HOME_FILES}/{name}" for name in contents.get("secrets", [])]
    missing = [name for name in needed if name not in files]
    problems += [
        f"{path / name}: in the manifest's contents, not among its files" for name in missing
    ]
    if problems:
        shown = "\n  ".join(problems[:20]) + ("\n  ..." if len(problems) > 20 else "")
        raise BackupError(
            f"the backup in {path} does not match its manifest; it is damaged or was changed "
            f"after it was made, so nothing was restored. Use another backup.\n  {shown}"
        )
    return dict(manifest)


def _restorable(name: str) -> bool:
    """Whether a backup holds a file called `name` (and restore knows where it goes)."""
    parts = Path(name).parts
    if not parts or Path(name).is_absolute() or ".." in parts:
        return False
    if parts[0] == ARTIFACTS:
        return len(parts) > 1
    return name in (MLFLOW_DB, STATE_DB) or (
        len(parts) == 2 and parts[0] == HOME_FILES and parts[1] in SECRET_FILES
    )


def _relative_files(folder: Path) -> Iterator[str]:
    """Every file below `folder`, as a POSIX path relative to it."""
    for root, _dirs, names in os.walk(folder):
        for name in names:
            yield (Path(root) / name).relative_to(folder).as_posix()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _version(package: str) -> str | None:
    try:
        return installed_version(package)
    except PackageNotFoundError:
        return None
