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

import argparse
import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from rayline.settings import Settings, get_settings
from rayline.stack.supervisor import answers, stack_pids

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


# --- restore ---------------------------------------------------------------------------------


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
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "?"
    return cmdline.strip()[:80]


# --- the CLI ---------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    """`backup PATH` or `restore PATH [--force]`; prints what was done, or the error."""
    parser = argparse.ArgumentParser(
        prog="python -m rayline.stack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=("backup", "restore"))
    parser.add_argument("path", type=Path, metavar="PATH", help="the backup's folder")
    parser.add_argument(
        "--force", action="store_true", help="restore: replace the data the home holds"
    )
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
        if args.command == "backup":
            if args.force:
                parser.error("--force is for restore; backup never writes over a folder")
            manifest = backup(settings, args.path)
            print(f"backed up {settings.home} to {args.path.resolve()}: {_summary(manifest)}")
        else:
            manifest = restore(settings, args.path, args.force)
            print(
                f"restored {_summary(manifest)} from {args.path.resolve()} (made "
                f"{manifest.get('created_at', '?')}) into {settings.home}; start it with `make up`"
            )
            stale = stale_locations(settings, manifest)
            if stale:
                print(
                    f"warning: {stale} artifact locations in the MLflow database are file paths "
                    f"into {manifest['source']['artifacts']}, the backed-up home's artifacts "
                    "(logged without the MLflow server): those runs and models load only if "
                    f"the backup is restored into {manifest['source']['home']}",
                    file=sys.stderr,
                )
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _summary(manifest: dict[str, Any]) -> str:
    contents = manifest["contents"]
    tables = (contents.get("mlflow_db") or {}).get("tables", {})
    state = (contents.get("state_db") or {}).get("tables", {})
    parts = [
        f"{tables.get('runs', 0)} MLflow runs",
        f"{tables.get('registered_models', 0)} registered models",
        f"{tables.get('model_versions', 0)} versions",
        f"{state.get('schedules', 0)} schedules",
        f"{state.get('schedule_runs', 0)} schedule runs",
        f"{(contents.get('artifacts') or {}).get('files', 0)} artifact files",
        "keys: " + (", ".join(contents.get("secrets", [])) or "none"),
    ]
    return ", ".join(parts)
