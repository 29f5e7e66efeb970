"""The prediction log: prediction requests kept for a while, so feedback labels can be joined to
their rows.

The Metrics deployment writes the requests ingress replicas hand it (in batches, off the request
path, one database row per request), joins feedback to them and prunes them (`retention_s`,
`retention_rows` per model).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import sessionmaker

from rayline.state.models import Prediction

CHUNK = 500
"""Keys per IN (...) clause: far below SQLite's and PostgreSQL's parameter limits."""


@dataclass(frozen=True)
class PredictedRequest:
    """One answered prediction request: its id and the prediction of each of its rows."""

    model: str
    prediction_id: str
    version: str
    predictions: list[Any]
    created_at: float


@dataclass(frozen=True)
class Labelled:
    """One labelled row."""

    version: str
    predicted: Any
    label: Any
    created_at: float


class PredictionLog:
    """Prediction requests and their labels in the state database (`StateStore.engine`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._session = sessionmaker(engine, expire_on_commit=False)

    def add(self, requests: Iterable[PredictedRequest]) -> int:
        """Keep answered requests; one already kept (a client reusing its id) stays as it was."""
        values = [
            {
                "model": r.model,
                "prediction_id": r.prediction_id,
                "version": r.version,
                "rows": len(r.predictions),
                "predicted": json.dumps(r.predictions),
                "created_at": r.created_at,
                "labelled": 0,
            }
            for r in requests
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
        """Attach labels `(prediction_id, row, label)` to kept requests of `model`; returns the
        version each found row was predicted by (rows not in the result are not kept)."""
        now = time.time() if now is None else now
        wanted: dict[str, dict[int, Any]] = defaultdict(dict)
        for pid, row, label in labels:
            wanted[pid][row] = label
        found: dict[tuple[str, int], str] = {}
        ids = list(wanted)
        with self._session.begin() as session:
            for start in range(0, len(ids), CHUNK):
                rows = session.execute(
                    select(
                        Prediction.prediction_id,
                        Prediction.version,
                        Prediction.rows,
                        Prediction.labels,
                    ).where(
                        Prediction.model == model,
                        Prediction.prediction_id.in_(ids[start : start + CHUNK]),
                    )
                )
                for pid, version, count, stored in rows:
                    kept = {int(k): v for k, v in json.loads(stored or "{}").items()}
                    for row, label in wanted[pid].items():
                        if row < count:
                            kept[row] = label
                            found[(pid, row)] = version
                    session.execute(
                        update(Prediction)
                        .where(Prediction.model == model, Prediction.prediction_id == pid)
                        .values(labels=json.dumps(kept), labelled=len(kept), labelled_at=now)
                    )
        return found

    def labelled(self, model: str, version: str, limit: int) -> list[Labelled]:
        """The newest labelled rows (at most `limit`) a version predicted, newest first."""
        result: list[Labelled] = []
        with self._session() as session:
            requests = session.execute(
                select(Prediction.predicted, Prediction.labels, Prediction.created_at)
                .where(
                    Prediction.model == model,
                    Prediction.version == version,
                    Prediction.labelled > 0,
                )
                .order_by(Prediction.labelled_at.desc(), Prediction.created_at.desc())
                .execution_options(yield_per=CHUNK)
            )
            for predicted, stored, created_at in requests:
                answers = json.loads(predicted)
                for row, label in sorted(
                    json.loads(stored or "{}").items(), key=lambda i: int(i[0])
                ):
                    result.append(Labelled(version, answers[int(row)], label, created_at))
                    if len(result) >= limit:
                        return result
        return result

    def labelled_versions(self, model: str) -> dict[str, int]:
        """Labelled rows per version of `model`."""
        with self._session() as session:
            rows = session.execute(
                select(Prediction.version, func.sum(Prediction.labelled))
                .where(Prediction.model == model, Prediction.labelled > 0)
                .group_by(Prediction.version)
            )
            return {version: int(n) for version, n in rows}

    def prune(self, model: str, older_than: float, keep_rows: int) -> int:
        """Delete `model`'s requests made before `older_than`, then its oldest requests beyond
        `keep_rows` predicted rows; returns how many requests went."""
        with self._session.begin() as session:
            result: Any = session.execute(
                delete(Prediction).where(
                    Prediction.model == model, Prediction.created_at < older_than
                )
            )
            gone = int(result.rowcount or 0)
            newer_rows = (
                func.sum(Prediction.rows)
                .over(order_by=(Prediction.created_at.desc(), Prediction.prediction_id.desc()))
                .label("newer_rows")
            )
            ranked = (
                select(Prediction.created_at, newer_rows)
                .where(Prediction.model == model)
                .subquery()
            )
            cutoff = session.scalar(
                select(func.max(ranked.c.created_at)).where(ranked.c.newer_rows > keep_rows)
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
