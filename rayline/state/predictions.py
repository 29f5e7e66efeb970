"""The prediction log: predicted rows kept for a while, so feedback labels can be joined to them.

The Metrics deployment writes the rows ingress replicas hand it (in batches, off the request
path), joins feedback to them and prunes them (`retention_s`, `retention_rows` per model).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import sessionmaker

from rayline.state.models import Prediction

CHUNK = 500
"""Keys per IN (...) clause: far below SQLite's and PostgreSQL's parameter limits."""


@dataclass(frozen=True)
class PredictedRow:
    model: str
    prediction_id: str
    row: int
    version: str
    predicted: Any
    created_at: float


@dataclass(frozen=True)
class Labelled:
    version: str
    predicted: Any
    label: Any
    created_at: float


class PredictionLog:
    """Predicted rows and their labels in the state database (`StateStore.engine`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._session = sessionmaker(engine, expire_on_commit=False)

    def add(self, rows: Iterable[PredictedRow]) -> int:
        """Keep predicted rows; a row already kept (a client reusing its id) stays as it was."""
        values = [
            {
                "model": r.model,
                "prediction_id": r.prediction_id,
                "row": r.row,
                "version": r.version,
                "predicted": json.dumps(r.predicted),
                "created_at": r.created_at,
            }
            for r in rows
        ]
        if not values:
            return 0
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(Prediction).on_conflict_do_nothing()
        with self._session.begin() as session:
            for start in range(0, len(values), CHUNK):
                session.execute(statement, values[start : start + CHUNK])
        return len(values)

    def label(
        self, model: str, labels: list[tuple[str, int, Any]], now: float | None = None
    ) -> dict[tuple[str, int], str]:
        """Attach labels `(prediction_id, row, label)` to kept rows of `model`; returns the
        version each found row was predicted by (rows not in the result are not kept)."""
        now = time.time() if now is None else now
        found: dict[tuple[str, int], str] = {}
        with self._session.begin() as session:
            for start in range(0, len(labels), CHUNK):
                chunk = labels[start : start + CHUNK]
                keys = [(pid, row) for pid, row, _ in chunk]
                rows = session.execute(
                    select(Prediction.prediction_id, Prediction.row, Prediction.version).where(
                        Prediction.model == model,
                        tuple_(Prediction.prediction_id, Prediction.row).in_(keys),
                    )
                )
                found.update({(pid, row): version for pid, row, version in rows})
                updates = [
                    {"pid": pid, "r": row, "label": json.dumps(label)}
                    for pid, row, label in chunk
                    if (pid, row) in found
                ]
                for item in updates:
                    session.execute(
                        update(Prediction)
                        .where(
                            Prediction.model == model,
                            Prediction.prediction_id == item["pid"],
                            Prediction.row == item["r"],
                        )
                        .values(label=item["label"], labelled_at=now)
                    )
        return found

    def labelled(self, model: str, version: str, limit: int) -> list[Labelled]:
        """The newest `limit` labelled rows a version predicted, newest first."""
        with self._session() as session:
            rows = session.execute(
                select(Prediction.predicted, Prediction.label, Prediction.created_at)
                .where(
                    Prediction.model == model,
                    Prediction.version == version,
                    Prediction.labelled_at.is_not(None),
                )
                .order_by(Prediction.labelled_at.desc(), Prediction.created_at.desc())
                .limit(limit)
            )
            return [
                Labelled(version, json.loads(p), json.loads(label or "null"), t)
                for p, label, t in rows
            ]

    def labelled_versions(self, model: str) -> dict[str, int]:
        """Labelled rows per version of `model`."""
        with self._session() as session:
            rows = session.execute(
                select(Prediction.version, func.count())
                .where(Prediction.model == model, Prediction.labelled_at.is_not(None))
                .group_by(Prediction.version)
            )
            return {version: int(n) for version, n in rows}

    def prune(self, model: str, older_than: float, keep_rows: int) -> int:
        """Delete `model`'s rows predicted before `older_than`, then its oldest rows beyond
        `keep_rows`; returns how many went."""
        with self._session.begin() as session:
            result: Any = session.execute(
                delete(Prediction).where(
                    Prediction.model == model, Prediction.created_at < older_than
                )
            )
            gone = int(result.rowcount or 0)
            cutoff = session.scalar(
                select(Prediction.created_at)
                .where(Prediction.model == model)
                .order_by(Prediction.created_at.desc())
                .offset(keep_rows)
                .limit(1)
            )
            if cutoff is not None:
                result = session.execute(
                    delete(Prediction).where(
                        Prediction.model == model, Prediction.created_at <= cutoff
                    )
                )
                gone += int(result.rowcount or 0)
        return gone

    def models(self) -> list[str]:
        with self._session() as session:
            return list(session.scalars(select(Prediction.model).distinct()))
