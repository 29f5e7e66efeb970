"""The local stack: a Ray head and an MLflow tracking server, started and stopped idempotently.

    python -m rayline.stack up | mlflow | down | status | admin-key | wait-ready | try
    python -m rayline.stack mlflow-server    (MLflow in the foreground: a container's command)
    python -m rayline.stack keys add | revoke | list     (`rayline.stack.keys`)
    python -m rayline.stack backup PATH | restore PATH [--force]   (`.backup`, `.restore`)

`up` starts only what is not already answering and records what it started in
`<home>/started.json`; `down` stops only those. `mlflow` starts only the MLflow server (the
head of a `ray up cluster.yaml` cluster, whose Ray the launcher starts). All state lives under
`RAYLINE_HOME` (default `.rayline/`), logs under `<home>/logs/`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rayline.keys import admin_key
from rayline.settings import get_settings
from rayline.stack import backup, keys, restore
from rayline.stack.services import down, serve_mlflow, status_text, up, up_mlflow
from rayline.stack.smoke import try_prediction, wait_ready

COMMANDS = ("up", "mlflow", "mlflow-server", "down", "status", "admin-key", "wait-ready", "try")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rayline.stack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument(
        "model", nargs="?", default="breast_cancer", help="model for `try` (default: breast_cancer)"
    )
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["keys"]:
        return keys.main(argv[1:], get_settings())
    if argv[:1] in (["backup"], ["restore"]):
        return backups(argv)
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.command == "up":
        up(settings)
    elif args.command == "mlflow":
        up_mlflow(settings)
    elif args.command == "mlflow-server":
        serve_mlflow(settings)
    elif args.command == "down":
        down(settings)
    elif args.command == "wait-ready":
        wait_ready(settings)
    elif args.command == "try":
        try_prediction(settings, args.model)
    elif args.command == "admin-key":
        key = admin_key(settings)
        if key is None:
            where = (
                "RAYLINE_API_KEYS" if settings.api_keys is not None else settings.credentials_file
            )
            print(f"no admin key in {where}: add `admin:<key>` or run `make up`", file=sys.stderr)
            return 1
        print(key)
    else:
        print(status_text(settings))
    return 0


def backups(argv: list[str]) -> int:
    """`backup PATH` or `restore PATH [--force]`; prints what was done, or the error."""
    parser = argparse.ArgumentParser(
        prog="python -m rayline.stack",
        description=backup.__doc__,
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
            manifest = backup.backup(settings, args.path)
            print(f"backed up {settings.home} to {args.path.resolve()}: {_summary(manifest)}")
        else:
            manifest = restore.restore(settings, args.path, args.force)
            print(
                f"restored {_summary(manifest)} from {args.path.resolve()} (made "
                f"{manifest.get('created_at', '?')}) into {settings.home}; start it with `make up`"
            )
            stale = restore.stale_locations(settings, manifest)
            if stale:
                print(
                    f"warning: {stale} artifact locations in the MLflow database are file paths "
                    f"into {manifest['source']['artifacts']}, the backed-up home's artifacts "
                    "(logged without the MLflow server): those runs and models load only if "
                    f"the backup is restored into {manifest['source']['home']}",
                    file=sys.stderr,
                )
    except backup.BackupError as exc:
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
