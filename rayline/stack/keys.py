"""`python -m rayline.stack keys add | revoke | list`: the stack's API keys, on the machine that
reaches its state database (the head, or anywhere `RAYLINE_STATE_DATABASE_URI` points at it).

    python -m rayline.stack keys add --role predict --name ci [--rate 50 --burst 100]
    python -m rayline.stack keys revoke <id>
    python -m rayline.stack keys list

`add` prints the new key once; the database keeps only its salted hash. Every ingress replica
picks a change up within `rayline.keys.KEYS_REFRESH_S`, without a redeploy. Each change is in
the audit log (`GET /v1/audit`).
"""

from __future__ import annotations

import argparse
import sys
import time

from rayline.keys import ENV_SOURCE, ROLES, cli_actor, key_id, key_record, new_key, parse_keys
from rayline.settings import Settings
from rayline.state import open_store
from rayline.state.access import AuditLog, KeyStore


def main(argv: list[str], settings: Settings) -> int:
    parser = argparse.ArgumentParser(prog="python -m rayline.stack keys", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    actions = parser.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="make a key and print it once")
    add.add_argument("--role", choices=list(ROLES), required=True)
    add.add_argument("--name", default="", help="what the key is for (shown by list)")
    add.add_argument(
        "--rate", type=float, help="requests a second it may make, per ingress replica"
    )
    add.add_argument("--burst", type=int, help="requests at once (default: a second's worth)")
    revoke = actions.add_parser("revoke", help="refuse a key from now on (within seconds)")
    revoke.add_argument("id", help="the key's id, as `keys list` shows it")
    actions.add_parser("list", help="every key: id, role, name, limits, created, revoked")
    args = parser.parse_args(argv)

    store = open_store(settings)
    try:
        keys, audit = KeyStore(store.engine), AuditLog(store.engine)
        if args.action == "add":
            key = new_key()
            try:
                record = key_record(args.role, args.name[:48], key, args.rate, args.burst)
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            keys.add(record)
            audit.append(cli_actor(), "keys_add", record.id, "ok", detail=f"role {record.role}")
            print(key)
            print(
                f"key {record.id} ({record.role}) added: this is the only time it is shown",
                file=sys.stderr,
            )
        elif args.action == "revoke":
            return _revoke(args.id, settings, keys, audit)
        else:
            print(_table(settings, keys))
    finally:
        store.close()
    return 0


def _revoke(wanted: str, settings: Settings, keys: KeyStore, audit: AuditLog) -> int:
    env = settings.api_keys.get_secret_value() if settings.api_keys is not None else ""
    if wanted in {key_id(key) for _, key in parse_keys(env)}:
        print(
            f"error: key {wanted} comes from {ENV_SOURCE}: remove it there and restart the "
            "Serve application (serve deploy serve_config.yaml)",
            file=sys.stderr,
        )
        return 2
    record = keys.revoke(wanted)
    if record is None:
        print(f"error: no key has id {wanted!r}; `keys list` shows the ids", file=sys.stderr)
        return 2
    audit.append(cli_actor(), "keys_revoke", record.id, "ok", detail=f"role {record.role}")
    print(f"key {record.id} ({record.role}) revoked: every replica refuses it within seconds")
    return 0


def _table(settings: Settings, keys: KeyStore) -> str:
    def when(t: float | None) -> str:
        return "-" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))

    rows = [("ID", "ROLE", "NAME", "RATE/S", "BURST", "CREATED (UTC)", "REVOKED (UTC)")]
    for r in keys.all():
        limits = ("-", "-") if r.rate is None else (f"{r.rate:g}", str(r.burst or "-"))
        rows.append((r.id, r.role, r.name or "-", *limits, when(r.created_at), when(r.revoked_at)))
    env = settings.api_keys.get_secret_value() if settings.api_keys is not None else ""
    for role, key in parse_keys(env):
        rows.append((key_id(key), role, ENV_SOURCE, "-", "-", "-", "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(line.rstrip() for line in lines)
