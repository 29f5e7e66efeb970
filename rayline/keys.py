"""API keys: how they are made, kept and checked, and where a client finds its own.

The server side keeps no key, only a salted SHA-256 of each (`rayline.state.access.KeyStore`,
in the state database): `python -m rayline.stack keys add` prints a new key once, and every
ingress replica reloads the keys within `KEYS_REFRESH_S`, so adding or revoking one needs no
redeploy. `RAYLINE_API_KEYS` (comma-separated `role:key` pairs, production's bootstrap keys)
adds keys the environment holds; those are hashed in memory and revoked by removing them there.

A client (the stack CLI, `make demo`, the bench, the tests, the local Prometheus) reads its keys
from `RAYLINE_API_KEYS` or, when that is unset, from `<home>/credentials`: the local operator's
copy of the admin and predict key `make up` made, mode 600, never read by the ingress.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from rayline.settings import Settings
from rayline.state.access import KeyRecord

Role = Literal["predict", "admin"]

ROLES: dict[Role, int] = {"predict": 1, "admin": 2}
"""Role → rank: a key may call every endpoint a role of its rank or lower may call."""

KEYS_REFRESH_S = 1.0
"""How often an ingress replica reloads the keys: a revoked key is refused within about this."""

KEY_PREFIX = "rl_"
"""New keys start with this, so that secret scanners and people can tell one when they see it."""

ENV_SOURCE = "RAYLINE_API_KEYS"
"""The name of keys from the environment."""


def parse_keys(text: str) -> list[tuple[Role, str]]:
    """(role, key) for every `role:key` pair in `text`, in order.

    Pairs are separated by commas or newlines, spaces around roles and keys are dropped, and
    pairs with an unknown role or no key are skipped."""
    pairs: list[tuple[Role, str]] = []
    for item in text.replace(",", "\n").splitlines():
        role, _, key = item.partition(":")
        role, key = role.strip(), key.strip()
        if role in ROLES and key:
            pairs.append((role, key))
    return pairs


def read_keys(settings: Settings) -> list[tuple[Role, str]]:
    """The keys this machine's clients hold: `RAYLINE_API_KEYS` if set, else the credentials
    file, else none."""
    if settings.api_keys is not None:
        return parse_keys(settings.api_keys.get_secret_value())
    if settings.credentials_file.exists():
        return parse_keys(settings.credentials_file.read_text())
    return []


def admin_key(settings: Settings) -> str | None:
    """The first admin key a client here holds, or None if it has none (yet)."""
    return next((key for role, key in read_keys(settings) if role == "admin"), None)


def key_id(key: str) -> str:
    """A key's public id: the first 12 hex digits of its SHA-256. It names the key in lists
    and the audit log, and finds its record; the salted hash proves the key."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def salted_hash(salt: str, key: str) -> str:
    # SHA-256, not a slow password hash: keys are 256 random bits, and every request checks one.
    return hashlib.sha256(bytes.fromhex(salt) + key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_record(
    role: Role, name: str, key: str, rate: float | None = None, burst: int | None = None
) -> KeyRecord:
    """What the store keeps of `key`: its id, a fresh salt and the salted hash."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if rate is not None and rate <= 0:
        raise ValueError(f"rate must be a number of requests a second above 0, not {rate}")
    if burst is not None and burst < 1:
        raise ValueError(f"burst must be 1 request or more, not {burst}")
    salt = secrets.token_hex(16)
    return KeyRecord(
        id=key_id(key),
        role=role,
        name=name,
        salt=salt,
        hash=salted_hash(salt, key),
        rate=rate,
        burst=burst,
        created_at=time.time(),
        revoked_at=None,
    )


@dataclass(frozen=True)
class Identity:
    """Who a request's key is: its id, role and rate limit."""

    id: str
    role: Role
    rate: float | None = None
    burst: int | None = None


class KeyRing:
    """The keys an ingress replica accepts: the environment's and the state database's active
    ones, by id. Rebuilt, not changed: a replica swaps in a new ring on every refresh."""

    def __init__(self, env_pairs: Iterable[tuple[Role, str]], records: Iterable[KeyRecord]):
        self._records = {r.id: r for r in records if r.revoked_at is None}
        for role, key in env_pairs:
            self._records[key_id(key)] = key_record(role, ENV_SOURCE, key)

    @classmethod
    def from_env(cls, settings: Settings, records: Iterable[KeyRecord] = ()) -> KeyRing:
        pairs = (
            () if settings.api_keys is None else parse_keys(settings.api_keys.get_secret_value())
        )
        return cls(pairs, records)

    def identify(self, key: str) -> Identity | None:
        """Who holds `key`, or None for a key it does not accept."""
        record = self._records.get(key_id(key))
        if record is None or not hmac.compare_digest(salted_hash(record.salt, key), record.hash):
            return None
        role: Role = "admin" if record.role == "admin" else "predict"
        return Identity(record.id, role, record.rate, record.burst)

    def __len__(self) -> int:
        return len(self._records)


def cli_actor() -> str:
    """Who the audit log names for an action taken with the stack CLI."""
    try:
        return f"cli:{getpass.getuser()}"[:16]
    except (KeyError, OSError):
        return "cli"
