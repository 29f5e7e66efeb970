"""API keys and roles: which key may use which route, and how fast, over HTTP (the
Authorization header) and gRPC (the `authorization` metadata) alike."""

from __future__ import annotations

import base64
import math
import time

from rayline.keys import ROLES, Identity, KeyRing, Role
from serve_app.http.errors import HttpError

BUCKETS_MAX = 10_000
"""Rate-limit buckets a replica keeps; past that, full buckets are dropped (they restart full)."""


def key_of(authorization: str | None) -> str | None:
    """The key an Authorization value carries: a Bearer key, or HTTP Basic with the key as
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
    return key or None


def identify(authorization: str | None, keys: KeyRing) -> Identity | None:
    key = key_of(authorization)
    return None if key is None else keys.identify(key)


def authorize(authorization: str | None, role: Role | None, keys: KeyRing) -> Identity | None:
    """Who the key an Authorization value carries is; 401 or 403 unless its role ranks at
    least `role`. None for an open route (`role` None)."""
    if role is None:
        return None
    if not authorization:
        raise HttpError(401, "missing API key: send 'Authorization: Bearer <key>'")
    identity = identify(authorization, keys)
    if identity is None:
        raise HttpError(401, "unknown or revoked API key")
    if ROLES[identity.role] < ROLES[role]:
        raise HttpError(403, f"this key has role '{identity.role}'; this route needs '{role}'")
    return identity


class RateLimiter:
    """A token bucket per key with a rate limit, in this replica: `rate` requests a second,
    `burst` at once (default: one second's worth). Each ingress replica holds its own buckets,
    so a key's limit holds per replica."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        """key id → (tokens, when they were counted)."""

    def check(self, identity: Identity | None) -> None:
        """Take a token for `identity`'s request; 429 with Retry-After when its bucket is
        empty."""
        if identity is None or identity.rate is None:
            return
        rate = identity.rate
        size = float(identity.burst or max(1, math.ceil(rate)))
        now = time.monotonic()
        tokens, then = self._buckets.get(identity.id, (size, now))
        tokens = min(size, tokens + (now - then) * rate)
        if tokens < 1:
            self._buckets[identity.id] = (tokens, now)
            retry_after = max(1, math.ceil((1 - tokens) / rate))
            raise HttpError(429, f"this key's rate limit is {rate:g} requests/s", retry_after)
        if len(self._buckets) >= BUCKETS_MAX and identity.id not in self._buckets:
            self._buckets.clear()
        self._buckets[identity.id] = (tokens - 1, now)
