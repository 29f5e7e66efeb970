"""API keys and roles: which key may use which route, over HTTP (the Authorization header)
and gRPC (the `authorization` metadata) alike."""

from __future__ import annotations

import base64
import hashlib

from rayline.keys import ROLES, Role, read_keys
from rayline.settings import Settings
from serve_app.http.errors import HttpError


def load_keys(settings: Settings) -> dict[str, Role]:
    """SHA-256 of each API key → its role; the keys themselves are not kept."""
    return {hashlib.sha256(key.encode()).hexdigest(): role for role, key in read_keys(settings)}


def role_of(authorization: str | None, keys: dict[str, Role]) -> Role | None:
    """The role of an Authorization value: a Bearer key, or HTTP Basic with the key as
    password (so netrc-aware clients such as MLflow's scoring client work unchanged)."""
    scheme, _, credentials = (authorization or "").partition(" ")
    key = credentials.strip()
    if scheme.lower() == "basic":
        try:
            key = base64.b64decode(key, validate=True).decode().partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            return None
    elif scheme.lower() != "bearer":
        return None
    return keys.get(hashlib.sha256(key.encode()).hexdigest()) if key else None


def authorize(authorization: str | None, role: Role | None, keys: dict[str, Role]) -> Role | None:
    """The role of the key an Authorization value carries; 401 or 403 unless it ranks at
    least `role`."""
    if role is None:
        return None
    if not authorization:
        raise HttpError(401, "missing API key: send 'Authorization: Bearer <key>'")
    granted = role_of(authorization, keys)
    if granted is None:
        raise HttpError(401, "unknown API key")
    if ROLES[granted] < ROLES[role]:
        raise HttpError(403, f"this key has role '{granted}'; this route needs '{role}'")
    return granted
