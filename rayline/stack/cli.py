"""The local stack: a Ray head and an MLflow tracking server, started and stopped idempotently.

    python -m rayline.stack up | mlflow | down | status | admin-key | wait-ready | try

`up` starts only what is not already answering and records what it started in
`<home>/started.json`; `down` stops only those. `mlflow` starts only the MLflow server (the
head of a `ray up cluster.yaml` cluster, whose Ray the launcher starts). All state lives under
`RAYLINE_HOME` (default `.rayline/`), logs under `<home>/logs/`.
"""

from __future__ import annotations

import argparse
import sys

from rayline.keys import admin_key
from rayline.settings import get_settings
from rayline.stack.services import down, status_text, up, up_mlflow
from rayline.stack.smoke import try_prediction, wait_ready

COMMANDS = ("up", "mlflow", "down", "status", "admin-key", "wait-ready", "try")


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
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.command == "up":
        up(settings)
    elif args.command == "mlflow":
        up_mlflow(settings)
    elif args.command == "down":
        down(settings)
    elif args.command == "wait-ready":
        wait_ready(settings)
    elif args.command == "try":
        try_prediction(settings, args.model)
    elif args.command == "admin-key":
        key = admin_key(settings)
        if key is None:
            where = "RAYLINE_API_KEYS" if settings.api_keys is not None else settings.keys_file
            print(f"no admin key in {where}: add `admin:<key>` or run `make up`", file=sys.stderr)
            return 1
        print(key)
    else:
        print(status_text(settings))
    return 0
