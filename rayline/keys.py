"""API keys: the one parser of the `role:key` format and where a stack's keys come from.

Keys come from `RAYLINE_API_KEYS` (comma-separated `role:key` pairs, always so in production
mode) or, when that is unset, from the keys file `make up` writes (`<home>/api_keys`, one pair a
line). The ingress, the stack CLI, the benchmark job, the tests and the bench all read them here.
"""

from __future__ import annotations

from typing import Literal

from rayline.settings import Settings

Role = Literal["predict", "admin"]

ROLES: dict[Role, int] = {"predict": 1, "admin": 2}
"""Role → rank: a key may call every endpoint a role of its rank or lower may call."""


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
    """The stack's keys: `RAYLINE_API_KEYS` if set, else the keys file, else none."""
    if settings.api_keys is not None:
        return parse_keys(settings.api_keys.get_secret_value())
    if settings.keys_file.exists():
        return parse_keys(settings.keys_file.read_text())
    return []


def admin_key(settings: Settings) -> str | None:
    """The first admin key of the stack, or None if it has none (yet)."""
    return next((key for role, key in read_keys(settings) if role == "admin"), None)
