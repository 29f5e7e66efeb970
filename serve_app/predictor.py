"""Predictor deployment: registered models by alias, multiplexed, batched, swapped live.

Each replica keeps the models it was asked for (`name@alias` or `name/version`) through
`@serve.multiplexed`. A watcher re-resolves every alias; when it moves, the new version is
loaded, verified, warmed up on its input example and only then swapped in. If it fails, the old
version keeps serving and the failure is reported by `status()`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from ray import serve

from rayline.integrity import IntegrityError
from rayline.registry import LoadedModel, Registry, RegistryError, parse_ref
from rayline.settings import get_settings
from serve_app.schemas import HttpError, Rows

log = logging.getLogger("ray.serve")
Loader = Callable[[str, str], LoadedModel]
Resolver = Callable[[str, str], str]
"""(name, alias or version) → the version it points at now; cheap next to a full load."""

_NUMERIC = {"double", "float", "long", "integer"}


@dataclass
class Slot:
    """The model currently answering for one model id, and its swap history."""

    model_id: str
    current: LoadedModel
    last_error: str | None = None
    last_checked: float = field(default_factory=time.time)

    def info(self) -> dict[str, Any]:
        model = self.current
        return {
            "model_id": self.model_id,
            "name": model.name,
            "alias": model.ref,
            "version": model.version,
            "task": model.task,
            "run_id": model.run_id,
            "loaded_at": model.loaded_at,
            "inputs": [
                {"name": c.name, "type": c.type, "required": c.required} for c in model.inputs
            ],
            "input_example": _example_record(model),
            "classes": model.classes,
            "status": "ready",
            "last_error": self.last_error,
        }


def _example_record(model: LoadedModel) -> dict[str, Any] | None:
    if model.input_example is None or model.input_example.empty:
        return None
    return {k: _plain(v) for k, v in model.input_example.iloc[0].to_dict().items()}


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


_FLOATS = frozenset({"double", "float"})


def _numeric_frame(rows: Rows, model: LoadedModel) -> pd.DataFrame | None:
    """The common case in one step: an all-float signature, columns as the signature orders
    them, rows that `Rows.check` made one float matrix. Anything else returns None and goes
    through the column-by-column path, which names the offending column and row."""
    expected = [c.name for c in model.inputs]
    if not expected or any(c.type not in _FLOATS for c in model.inputs):
        return None
    if rows.columns is not None and rows.columns != expected:
        return None
    if rows.numbers is None or rows.numbers.shape[1] != len(expected):
        return None
    return pd.DataFrame(rows.numbers, columns=expected, copy=False)


def to_frame(rows: Rows, model: LoadedModel) -> pd.DataFrame:
    """Validate rows against the model signature and build the typed input frame."""
    fast = _numeric_frame(rows, model)
    if fast is not None:
        return fast
    expected = [c.name for c in model.inputs]
    data = rows.lists()
    if rows.columns is None:
        if expected and len(data[0]) != len(expected):
            raise HttpError(
                422,
                f"each row needs {len(expected)} values in the order of "
                f"the model's columns; see GET /v1/models/{model.name}/schema",
            )
        columns = expected or [str(i) for i in range(len(data[0]))]
    else:
        columns = rows.columns
    if expected:
        missing = [c.name for c in model.inputs if c.required and c.name not in columns]
        if missing:
            raise HttpError(422, f"missing column(s): {', '.join(missing[:10])}")
        unknown = [c for c in columns if c not in expected]
        if unknown:
            raise HttpError(422, f"unknown column(s): {', '.join(map(str, unknown[:10]))}")
    frame = pd.DataFrame(data, columns=columns)
    for spec in model.inputs:
        if spec.name not in frame:
            frame[spec.name] = np.nan
            continue
        frame[spec.name] = _coerce(frame[spec.name], spec.name, spec.type)
    return frame[expected] if expected else frame


def _coerce(column: pd.Series, name: str, kind: str) -> pd.Series:
    if kind in _NUMERIC:
        for index, value in enumerate(column):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise HttpError(422, f"column '{name}' row {index}: expects a number")
            if not math.isfinite(value) or abs(value) > 1e300:
                raise HttpError(
                    422,
                    f"column '{name}' row {index}: NaN, infinite or "
                    "out-of-range numbers are not accepted",
                )
            if kind in ("long", "integer") and not float(value).is_integer():
                raise HttpError(422, f"column '{name}' row {index}: expects an integer")
        return column.astype("float64" if kind in ("double", "float") else "int64")
    if kind == "boolean":
        if not all(isinstance(v, bool) for v in column):
            raise HttpError(422, f"column '{name}': expects true or false")
        return column.astype(bool)
    if not all(isinstance(v, str) for v in column):
        raise HttpError(422, f"column '{name}': expects text")
    return column.astype(object)


def run_model(model: LoadedModel, frame: pd.DataFrame, want_proba: bool) -> dict[str, Any]:
    """Predict (and predict_proba where asked and supported) for one frame."""
    predictions = model.model.predict(frame)
    result: dict[str, Any] = {
        "model": model.name,
        "alias": model.ref,
        "version": model.version,
        "predictions": [_plain(p) for p in predictions],
        "probabilities": None,
        "classes": model.classes,
    }
    if want_proba and hasattr(model.model, "predict_proba"):
        result["probabilities"] = np.round(model.model.predict_proba(frame), 6).tolist()
    return result


class PredictorCore:
    """Everything the deployment does, without Serve: loading, swapping, predicting."""

    def __init__(self, loader: Loader, resolver: Resolver | None = None) -> None:
        self.loader = loader
        self.resolver = resolver
        self.slots: dict[str, Slot] = {}

    def load(self, model_id: str) -> Slot:
        name, ref = parse_ref(model_id)
        model = self.loader(name, ref)
        warm_up(model)
        slot = Slot(model_id, model)
        self.slots[model_id] = slot
        log.info("loaded %s as version %s", model_id, model.version)
        return slot

    def refresh(self, slot: Slot) -> bool:
        """Swap in the version the alias points at now; True if it changed."""
        name, ref = parse_ref(slot.model_id)
        slot.last_checked = time.time()
        try:
            # Ask which version the alias names before downloading and deserialising it:
            # the watcher runs every few seconds for every model a replica holds.
            if self.resolver is not None and self.resolver(name, ref) == slot.current.version:
                slot.last_error = None
                return False
            model = self.loader(name, ref)
            if model.version == slot.current.version:
                slot.last_error = None
                return False
            warm_up(model)
        except (RegistryError, IntegrityError, OSError, ValueError, HttpError) as exc:
            slot.last_error = f"{type(exc).__name__}: {exc}"
            log.error(
                "keeping %s version %s: cannot switch: %s",
                slot.model_id,
                slot.current.version,
                slot.last_error,
            )
            return False
        log.info(
            "switching %s from version %s to %s", slot.model_id, slot.current.version, model.version
        )
        slot.current = model
        slot.last_error = None
        return True


def _stack(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """One frame for a batch; all-float frames with the same columns stack as one array."""
    if len(frames) == 1:
        return frames[0]
    columns = frames[0].columns
    if all(f.columns.equals(columns) and all(t == np.float64 for t in f.dtypes) for f in frames):
        return pd.DataFrame(np.vstack([f.to_numpy() for f in frames]), columns=columns)
    return pd.concat(frames, ignore_index=True)


def warm_up(model: LoadedModel) -> None:
    """Predict on the input example once; a model that cannot is not swapped in."""
    if model.input_example is not None and not model.input_example.empty:
        run_model(model, model.input_example, want_proba=True)


@serve.deployment(name="Predictor")
class Predictor:
    """Serve deployment around `PredictorCore`; `user_config` sets live knobs."""

    def __init__(self, loader: Loader | None = None) -> None:
        resolver: Resolver | None = None
        if loader is None:
            registry = Registry(get_settings().tracking_uri)
            loader = registry.load

            def resolver(name: str, ref: str) -> str:
                return str(registry.resolve(name, ref).version)

        self.core = PredictorCore(loader, resolver)
        self.poll_interval_s = 5.0
        self._watcher = asyncio.get_running_loop().create_task(self._watch())

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        self.poll_interval_s = float(user_config.get("poll_interval_s", self.poll_interval_s))
        self._predict_batch.set_max_batch_size(  # type: ignore[attr-defined]
            int(user_config.get("max_batch_size", 32))
        )
        self._predict_batch.set_batch_wait_timeout_s(  # type: ignore[attr-defined]
            float(user_config.get("batch_wait_timeout_s", 0.002))
        )

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval_s)
            for slot in list(self.core.slots.values()):
                await asyncio.to_thread(self.core.refresh, slot)

    @serve.multiplexed(max_num_models_per_replica=16)  # type: ignore[untyped-decorator]
    async def get_model(self, model_id: str) -> Slot:
        return await asyncio.to_thread(self.core.load, model_id)

    async def _slot(self) -> Slot:
        model_id = serve.get_multiplexed_model_id()
        try:
            slot: Slot = await self.get_model(model_id)
            return slot
        except RegistryError as exc:
            raise HttpError(
                exc.status, str(exc), retry_after=5 if exc.status == 503 else None
            ) from None
        except IntegrityError as exc:
            log.error("refusing %s: %s", model_id, exc)
            raise HttpError(
                503,
                f"model {model_id} failed its integrity check and is not served",
                retry_after=30,
            ) from None
        except Exception as exc:
            log.exception("cannot load %s", model_id)
            raise HttpError(
                503,
                f"model {model_id} could not be loaded "
                f"({type(exc).__name__}); see the Predictor logs",
                retry_after=10,
            ) from None

    async def predict(self, rows: Rows, want_proba: bool) -> dict[str, Any]:
        """Validate and predict; errors come back as {"status", "detail"}, never raised."""
        try:
            slot = await self._slot()
            frame = to_frame(rows, slot.current)
            return await self._predict_batch((slot.current, frame, want_proba))
        except HttpError as exc:
            return {"status": exc.status, "detail": exc.detail, "retry_after": exc.retry_after}

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.002)
    async def _predict_batch(
        self, items: list[tuple[LoadedModel, pd.DataFrame, bool]]
    ) -> list[dict[str, Any]]:
        """Concurrent requests for the same model version share one predict call."""
        results: list[dict[str, Any] | None] = [None] * len(items)
        groups: dict[tuple[int, bool], list[int]] = {}
        for index, (model, _, proba) in enumerate(items):
            groups.setdefault((id(model), proba), []).append(index)
        for (_, proba), indices in groups.items():
            model = items[indices[0]][0]
            frame = _stack([items[i][1] for i in indices])
            combined = run_model(model, frame, proba)
            start = 0
            for i in indices:
                n = len(items[i][1])
                part = dict(combined)
                part["predictions"] = combined["predictions"][start : start + n]
                if combined["probabilities"] is not None:
                    part["probabilities"] = combined["probabilities"][start : start + n]
                part["batch_size"] = len(frame)
                results[i] = part
                start += n
        return [r for r in results if r is not None]

    async def status(self) -> dict[str, Any]:
        """Load (if needed) and describe the multiplexed model."""
        model_id = serve.get_multiplexed_model_id()
        try:
            slot = await self._slot()
        except HttpError as exc:
            name, _, ref = model_id.partition("@")
            return {
                "model_id": model_id,
                "name": name,
                "alias": ref,
                "status": "failed",
                "error": exc.detail,
                "http_status": exc.status,
            }
        return slot.info()
