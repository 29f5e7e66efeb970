"""The monitoring state of the serving application, held by the Metrics deployment: live windows
merged from every replica, the prediction log, feedback counts, and the reports built from them
(the `/v1/models/{name}/monitoring` body and the Prometheus samples)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from rayline.monitoring.drift import DriftReport, MonitoringConfig, drift_report
from rayline.monitoring.live import LiveBatch, Windows, issued_at, newest_first
from rayline.monitoring.profile import Profile
from rayline.monitoring.quality import live_metrics, quality_alarm, training_metrics
from rayline.state.predictions import Labelled, PredictedRequest, PredictionLog

SERIES_POINTS = 20
"""Points of the live-quality-over-time series."""
MAX_UNWRITTEN_ROWS = 1_000_000
"""Predicted rows waiting for the database at most; beyond it (the database is down or slow)
new rows are counted as dropped."""
DEFAULT = MonitoringConfig()
Window = tuple[Profile, Profile, float | None]
"""A version's reference, its merged live window, and when the window's oldest bucket starts."""


@dataclass
class FeedbackItem:
    prediction_id: str
    row: int
    label: Any


class Monitor:
    """Windows, prediction log and feedback counters of every served model."""

    def __init__(self, configs: dict[str, MonitoringConfig], log_: PredictionLog | None) -> None:
        self.configs = configs
        self.log = log_
        self.windows = Windows()
        self.unwritten: list[PredictedRequest] = []
        self.unwritten_rows = 0
        self.dropped = 0
        self.feedback: dict[tuple[str, str, str], int] = defaultdict(int)
        """(model, version, outcome) → labels received; version is "" when no row was found."""
        self.lock = threading.Lock()
        """Guards the in-memory state: `ingest` runs on the event loop, the blocking methods
        (`write`, `label`, `report`) in threads, several at once."""

    def config(self, model: str) -> MonitoringConfig:
        return self.configs.get(model, DEFAULT)

    # --- fed by the ingress replicas -----------------------------------------------------
    def ingest(self, batch: LiveBatch, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self.lock:
            self.windows.ingest(batch.profiles, now)
            self.dropped += batch.dropped
            if self.unwritten_rows + batch.pending_rows > MAX_UNWRITTEN_ROWS:
                self.dropped += batch.pending_rows  # the database is down or slow
            else:
                self.unwritten.extend(batch.predictions)
                self.unwritten_rows += batch.pending_rows

    def write(self) -> int:
        """Write the pending predicted rows (blocking: run in a thread); a failure keeps them
        for the next try."""
        if self.log is None:
            return 0
        with self.lock:
            requests, self.unwritten = self.unwritten, []
            rows, self.unwritten_rows = self.unwritten_rows, 0
        if not requests:
            return 0
        try:
            return self.log.add(requests)
        except Exception:
            with self.lock:  # keep them for the next try; newer ones may be dropped meanwhile
                self.unwritten = requests + self.unwritten
                self.unwritten_rows += rows
            raise

    def prune(self, now: float | None = None) -> int:
        """Apply each model's retention (blocking)."""
        if self.log is None:
            return 0
        now = time.time() if now is None else now
        gone = 0
        for model in self.log.models():
            config = self.config(model)
            gone += self.log.prune(model, now - config.retention_s, config.retention_rows)
        return gone

    # --- feedback --------------------------------------------------------------------------
    def label(
        self, model: str, items: list[FeedbackItem], now: float | None = None
    ) -> dict[str, int]:
        """Join labels to kept predictions (blocking). Labels for rows not kept are `unknown`,
        or `expired` when the id is a generated one older than the retention."""
        now = time.time() if now is None else now
        if self.log is None:
            raise RuntimeError("feedback needs the state database (RAYLINE_STATE_DATABASE_URI)")
        self.write()  # predictions made a moment ago are joinable at once
        found = self.log.label(model, [(i.prediction_id, i.row, i.label) for i in items], now)
        counts = {"received": len(items), "joined": 0, "unknown": 0, "expired": 0}
        retention = self.config(model).retention_s
        outcomes = []
        for item in items:
            version = found.get((item.prediction_id, item.row))
            if version is not None:
                outcome = "joined"
            else:
                version = ""
                issued = issued_at(item.prediction_id)
                expired = issued is not None and issued < now - retention
                outcome = "expired" if expired else "unknown"
            counts[outcome] += 1
            outcomes.append((model, version, outcome))
        with self.lock:
            for key in outcomes:
                self.feedback[key] += 1
        return counts

    # --- reports ---------------------------------------------------------------------------
    def models(self) -> list[str]:
        with self.lock:
            names = {model for model, _ in self.windows.buckets} | set(self.configs)
            names |= {model for model, _, _ in self.feedback}
        return sorted(names)

    def report(self, model: str, now: float | None = None) -> dict[str, Any]:
        """Drift and live quality of every version of `model` with live rows or labels (blocking:
        reads the prediction log)."""
        now = time.time() if now is None else now
        config = self.config(model)
        with self.lock:  # a snapshot: merged windows are new profiles, safe to read after
            windows: dict[str, Window] = {}
            for version in self.windows.versions(model):
                key = (model, version)
                live, since = self.windows.live(key, config.window_s, now)
                windows[version] = (self.windows.references[key], live, since)
            feedback = dict(self.feedback)
            dropped = self.dropped
        labelled = self.log.labelled_versions(model) if self.log is not None else {}
        versions = newest_first(set(windows) | set(labelled))
        return {
            "model": model,
            "config": config.model_dump(),
            "versions": [
                self._version(model, v, windows.get(v), feedback, config) for v in versions
            ],
            "feedback": {
                outcome: sum(n for (m, _, o), n in feedback.items() if (m, o) == key)
                for outcome in ("joined", "unknown", "expired")
                for key in [(model, outcome)]
            },
            "dropped_rows": dropped,
        }

    def _version(
        self,
        model: str,
        version: str,
        snapshot: Window | None,
        feedback: dict[tuple[str, str, str], int],
        config: MonitoringConfig,
    ) -> dict[str, Any]:
        drift: dict[str, Any]
        window: dict[str, Any] = {"rows": 0, "since": None, "window_s": config.window_s}
        reference = None
        if snapshot is None:  # labels only: the window has gone (Metrics restarted, or idle)
            drift = DriftReport("no_reference", 0, [], None, 0.0).to_json()
        else:
            reference, live, since = snapshot
            window |= {"rows": live.rows, "since": since}
            drift = drift_report(reference, live, config).to_json()
        window["min_rows"] = config.min_rows
        return {
            "version": version,
            "window": window,
            "drift": drift,
            "quality": self._quality(model, version, reference, config),
            "feedback": {"joined": feedback.get((model, version, "joined"), 0)},
        }

    def _quality(
        self, model: str, version: str, reference: Any, config: MonitoringConfig
    ) -> dict[str, Any]:
        rows: list[Labelled] = []
        if self.log is not None:
            rows = self.log.labelled(model, version, config.quality_window_rows)
        task = reference.task if reference is not None else _guess_task(rows)
        live = live_metrics(task, [r.predicted for r in rows], [r.label for r in rows])
        training = training_metrics(task, reference.metrics) if reference is not None else {}
        alarm, drop = quality_alarm(task, live, training, len(rows), config)
        return {
            "task": task,
            "labelled": len(rows),
            "live": live,
            "training": training,
            "alarm": alarm,
            "drop": drop,
            "max_drop": config.max_quality_drop,
            "min_labels": config.min_labels,
            "series": _series(task, rows),
        }

    # --- Prometheus ---------------------------------------------------------------------------
    def samples(self, now: float | None = None) -> list[dict[str, Any]]:
        """Every model's report (for the Prometheus collector)."""
        now = time.time() if now is None else now
        return [self.report(model, now) for model in self.models()]


def _guess_task(rows: list[Labelled]) -> str:
    """A version with labels but no reference (Metrics restarted): floats mean regression."""
    if rows and all(isinstance(r.predicted, float) for r in rows):
        return "regression"
    return "classification"


def _series(task: str, rows: list[Labelled]) -> list[dict[str, Any]]:
    """Live quality over time: the labelled rows, oldest first, in up to `SERIES_POINTS` equal
    groups, each scored on its own (t: the group's mean prediction time)."""
    if not rows:
        return []
    ordered = sorted(rows, key=lambda r: r.created_at)
    points = []
    for group in np.array_split(np.arange(len(ordered)), min(SERIES_POINTS, len(ordered))):
        chosen = [ordered[i] for i in group]
        point: dict[str, Any] = {
            "t": float(np.mean([r.created_at for r in chosen])),
            "rows": len(chosen),
        }
        point |= live_metrics(task, [r.predicted for r in chosen], [r.label for r in chosen])
        points.append(point)
    return points
