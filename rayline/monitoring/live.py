"""Live traffic, as the serving path sees it: profiles of predicted rows and the predictions kept
for feedback.

An ingress replica folds every scored batch into a `Tap` (in memory, no I/O); its flusher drains
the tap every second into the delta it hands the Metrics deployment, whose `Windows` keep the
last `window_s` seconds per model version as one-minute profiles, merged across replicas.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from rayline.monitoring.profile import Folder, Profile
from rayline.state.predictions import PredictedRequest

Key = tuple[str, str]
"""(model name, version)."""
BUCKET_S = 60.0
"""A window is kept as profiles of this many seconds each."""
MAX_PENDING_ROWS = 200_000
"""Predicted rows a replica holds between two flushes; beyond it, rows are counted, not kept."""
ID_HEX_TIME = 12
"""A generated prediction id starts with its creation time: 12 hex digits of milliseconds."""


def newest_first(versions: Iterable[str]) -> list[str]:
    """Registry version numbers, highest first."""
    return sorted(versions, key=lambda v: int(v) if v.isdigit() else 0, reverse=True)


def new_prediction_id(now: float | None = None) -> str:
    """A prediction id that tells its age: milliseconds since the epoch, then 48 random bits."""
    ms = int((time.time() if now is None else now) * 1000)
    return f"{ms:0{ID_HEX_TIME}x}-{secrets.token_hex(6)}"


def issued_at(prediction_id: str) -> float | None:
    """When a generated id was issued (None for a caller's own id)."""
    head, sep, tail = prediction_id.partition("-")
    if not sep or len(head) != ID_HEX_TIME or len(tail) != 12:
        return None
    try:
        int(tail, 16)
        return int(head, 16) / 1000
    except ValueError:
        return None


@dataclass
class LiveBatch:
    """What a replica hands over: per version the reference and the rows folded since the last
    flush, and the predictions to keep for feedback."""

    profiles: dict[Key, tuple[Profile, Profile]] = field(default_factory=dict)
    predictions: list[PredictedRequest] = field(default_factory=list)
    pending_rows: int = 0
    """Predicted rows in `predictions`."""
    dropped: int = 0
    """Predicted rows not kept because the replica's pending list was full."""

    def empty(self) -> bool:
        return not self.profiles and not self.predictions and not self.dropped


class Tap:
    """One replica's live profiles and pending predictions (used from its event loop only)."""

    def __init__(self) -> None:
        self.batch = LiveBatch()
        self.folders: dict[Key, Folder] = {}

    def fold(self, key: Key, reference: Profile, frame: pd.DataFrame, predictions: Any) -> None:
        """Count a scored frame into the profile of its model version."""
        folder = self.folders.get(key)
        if folder is None or folder.reference is not reference:
            folder = self.folders[key] = Folder(reference)
        folder.fold(frame, predictions)

    def keep(self, key: Key, prediction_id: str, predictions: list[Any], now: float) -> None:
        """Keep a request's predictions (row i of the request is row i here) for feedback."""
        batch = self.batch
        if batch.pending_rows + len(predictions) > MAX_PENDING_ROWS:
            batch.dropped += len(predictions)
            return
        model, version = key
        batch.predictions.append(PredictedRequest(model, prediction_id, version, predictions, now))
        batch.pending_rows += len(predictions)

    def drain(self) -> LiveBatch:
        batch, self.batch = self.batch, LiveBatch()
        for key, folder in self.folders.items():
            if folder.rows:
                batch.profiles[key] = (folder.reference, folder.profile())
        self.folders = {}
        return batch


class Windows:
    """The last `window_s` seconds of live profiles per model version, in `BUCKET_S` buckets."""

    def __init__(self, max_versions: int = 64) -> None:
        self.references: dict[Key, Profile] = {}
        self.buckets: dict[Key, deque[tuple[float, Profile]]] = {}
        self.max_versions = max_versions

    def ingest(self, profiles: dict[Key, tuple[Profile, Profile]], now: float) -> None:
        start = now - now % BUCKET_S
        for key, (reference, live) in profiles.items():
            self.references[key] = reference
            buckets = self.buckets.setdefault(key, deque())
            if buckets and buckets[-1][0] == start:
                buckets[-1][1].merge(live)
            else:
                buckets.append((start, live))
        while len(self.buckets) > self.max_versions:  # the least recently fed version goes
            oldest = min(self.buckets, key=lambda k: self.buckets[k][-1][0])
            del self.buckets[oldest], self.references[oldest]

    def live(self, key: Key, window_s: float, now: float) -> tuple[Profile, float | None]:
        """The merged profile of the window and when its oldest bucket starts; buckets older
        than the window are dropped."""
        buckets = self.buckets.get(key, deque())
        while buckets and buckets[0][0] + BUCKET_S <= now - window_s:
            buckets.popleft()
        merged = self.references[key].empty_like()
        for _, profile in buckets:
            merged.merge(profile)
        return merged, (buckets[0][0] if buckets else None)

    def versions(self, model: str) -> list[str]:
        """Versions of `model` with a window, newest (highest) first."""
        return newest_first(v for m, v in self.buckets if m == model)
