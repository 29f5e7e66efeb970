"""Who may call the API and what admins did: API keys (salted hashes) and the audit log, in the
state database, so that a key added or revoked on one machine reaches every ingress replica of
the cluster, and the audit trail outlives restarts and backups.

`rayline.keys` makes and checks keys; the stack CLI (`python -m rayline.stack keys ...`) and
the ingress (`serve_app.http`) write and read them here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import sessionmaker

from rayline.state.models import ApiKey, AuditEntry

AUDIT_DETAIL_CHARS = 2000
"""An audit entry keeps at most this much detail."""


@dataclass(frozen=True)
class KeyRecord:
    """One API key as stored: its id, role and limits; never the key."""

    id: str
    role: str
    name: str
    salt: str
    hash: str
    rate: float | None
    burst: int | None
    created_at: float
    revoked_at: float | None


@dataclass(frozen=True)
class AuditRecord:
    """One admin action."""

    id: int
    time: float
    key_id: str | None
    action: str
    target: str
    outcome: str
    status: int | None
    detail: str | None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


class KeyStore:
    """API keys in the state database (`StateStore.engine`)."""

    def __init__(self, engine: Engine) -> None:
        self._session = sessionmaker(engine, expire_on_commit=False)

    def add(self, record: KeyRecord) -> None:
        """Keep a new key; a key whose id is taken (the same key twice) is refused."""
        with self._session.begin() as session:
            if session.get(ApiKey, record.id) is not None:
                raise ValueError(f"a key with id {record.id} exists already")
            session.add(ApiKey(**record.__dict__))

    def revoke(self, key_id: str) -> KeyRecord | None:
        """Revoke the key; None if no key has this id. Revoking twice keeps the first time."""
        with self._session.begin() as session:
            row = session.get(ApiKey, key_id)
            if row is None:
                return None
            if row.revoked_at is None:
                row.revoked_at = time.time()
            return _key(row)

    def active(self) -> list[KeyRecord]:
        """The keys that are not revoked."""
        with self._session() as session:
            rows = session.scalars(select(ApiKey).where(ApiKey.revoked_at.is_(None)))
            return [_key(row) for row in rows]

    def all(self) -> list[KeyRecord]:
        """Every key, revoked ones too, oldest first."""
        with self._session() as session:
            rows = session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id))
            return [_key(row) for row in rows]


class AuditLog:
    """Admin actions in the state database (`StateStore.engine`), appended, never changed."""

    def __init__(self, engine: Engine) -> None:
        self._session = sessionmaker(engine, expire_on_commit=False)

    def append(
        self,
        key_id: str | None,
        action: str,
        target: str,
        outcome: str,
        status: int | None = None,
        detail: str | None = None,
    ) -> AuditRecord:
        row = AuditEntry(
            time=time.time(),
            key_id=key_id,
            action=action[:64],
            target=target[:512],
            outcome=outcome,
            status=status,
            detail=None if detail is None else detail[:AUDIT_DETAIL_CHARS],
        )
        with self._session.begin() as session:
            session.add(row)
        return _entry(row)

    def read(
        self,
        limit: int = 50,
        before: int | None = None,
        action: str | None = None,
        key_id: str | None = None,
        outcome: str | None = None,
        since: float | None = None,
    ) -> list[AuditRecord]:
        """The newest entries first, `before` an entry id (the next page starts below the
        last id of this one), filtered by action, key id, outcome and time."""
        query = select(AuditEntry)
        if before is not None:
            query = query.where(AuditEntry.id < before)
        if action is not None:
            query = query.where(AuditEntry.action == action)
        if key_id is not None:
            query = query.where(AuditEntry.key_id == key_id)
        if outcome is not None:
            query = query.where(AuditEntry.outcome == outcome)
        if since is not None:
            query = query.where(AuditEntry.time >= since)
        with self._session() as session:
            rows = session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit))
            return [_entry(row) for row in rows]


def _key(row: ApiKey) -> KeyRecord:
    return KeyRecord(**{name: getattr(row, name) for name in KeyRecord.__dataclass_fields__})


def _entry(row: AuditEntry) -> AuditRecord:
    return AuditRecord(**{name: getattr(row, name) for name in AuditRecord.__dataclass_fields__})
