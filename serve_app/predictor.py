"""The predictor: registered models by alias, loaded where the request arrives, batched,
swapped live.

Each Ingress replica holds a `Predictor` and keeps the models it was asked for (`name@alias` or
`name/version`), at most `MAX_MODELS_PER_REPLICA`, least recently used out first. A prediction
is answered in the replica that took the HTTP request: no Ray call on the way. A watcher
re-resolves every alias; when it moves, the new version is loaded, verified, warmed up on its
input example and only then swapped in. If it fails, the old version keeps serving and the
failure is reported by `status()`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from ray import serve

from rayline.errors import (
    BadRequest,
    ModelNotFound,
    ModelUnavailable,
    RaylineError,
    RegistryUnavailable,
)
from rayline.inference import example_record, run_model, stack_frames, to_frame, warm_up
from rayline.integrity import IntegrityError
from rayline.monitoring.live import Tap
from rayline.registry import LoadedModel, Registry, RegistryError, parse_ref
from rayline.rows import Rows
from rayline.settings import get_settings
from serve_app.schemas import PredictorConfig

log = logging.getLogger("ray.serve")
Loader = Callable[[str, str], LoadedModel]
Resolver = Callable[[str, str], str]
"""(name, alias or version) → the version it points at now; cheap next to a full load."""

INTEGRITY_RETRY_AFTER_S = 30
"""Retry-After (seconds) for a model version that failed its integrity check: it needs a new
version or an alias moved, which takes a person, not a moment."""
LOAD_RETRY_AFTER_S = 10
"""Retry-After (seconds) for a model that could not be loaded for another reason."""
STARTUP_REGISTRY_WAIT_S = 300.0
"""How long a starting replica waits for an unreachable registry before it takes requests
without the served models it could not look up (they load on first use once MLflow is back)."""
MAX_MODELS_PER_REPLICA = 16
"""Models one replica keeps loaded; the least recently used one goes first."""
_DEFAULTS = PredictorConfig()


@dataclass
class Slot:
    """The model currently answering for one model id, and why the last swap failed."""

    model_id: str
    current: LoadedModel
    last_error: str | None = None
    checked_at: float | None = None
    """When the watcher last asked the registry about this model (None: not yet)."""

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
            "input_example": example_record(model),
            "classes": model.classes,
            "probabilities": hasattr(model.model, "predict_proba"),
            "status": "ready",
            "last_error": self.last_error,
            "checked_at": self.checked_at,
        }


def failure_info(model_id: str, exc: RaylineError) -> dict[str, Any]:
    """The status of a model that could not be loaded, with the HTTP status its error maps to."""
    sep = "@" if "@" in model_id else "/"  # name@alias or name/version
    name, _, ref = model_id.partition(sep)
    return {
        "model_id": model_id,
        "name": name,
        "alias": ref,
        "status": "failed",
        "error": exc.detail,
        "http_status": exc.status,
    }


def model_error(exc: RegistryError) -> RaylineError:
    """A registry error about a served model as the domain error a client sees."""
    if exc.status == 404:
        return ModelNotFound(str(exc))
    if exc.status == 400:
        return BadRequest(str(exc))
    return RegistryUnavailable(str(exc))  # the registry does not answer: retry shortly


class PredictorCore:
    """Everything the deployment does, without Serve: loading, swapping, predicting."""

    def __init__(self, loader: Loader, resolver: Resolver | None = None) -> None:
        self.loader = loader
        self.resolver = resolver
        self.slots: OrderedDict[str, Slot] = OrderedDict()
        """Loaded models, least recently used first; beyond `MAX_MODELS_PER_REPLICA` the
        first one is dropped (it loads again on its next request)."""

    def get(self, model_id: str) -> Slot | None:
        """The model's slot if it is loaded, marked as just used."""
        slot = self.slots.get(model_id)
        if slot is not None:
            self.slots.move_to_end(model_id)
        return slot

    def load(self, model_id: str) -> Slot:
        """The one slot of `model_id`, loading it if no slot exists."""
        existing = self.get(model_id)
        return existing if existing is not None else self.store(model_id, self.fetch(model_id))

    def fetch(self, model_id: str) -> LoadedModel:
        """Download, verify and warm up the version `model_id` names (slow: run in a thread)."""
        name, ref = parse_ref(model_id)
        model = self.loader(name, ref)
        warm_up(model)
        return model

    def store(self, model_id: str, model: LoadedModel) -> Slot:
        """Keep a fetched model as the slot of `model_id`. Loads of the same id can overlap
        (a second request arrives while the first load runs): the first slot stored wins, so
        the slot the watcher refreshes is always the slot that answers."""
        slot = self.slots.setdefault(model_id, Slot(model_id, model))
        if slot.current is model:
            log.info("loaded %s as version %s", model_id, model.version)
        while len(self.slots) > MAX_MODELS_PER_REPLICA:
            dropped, _ = self.slots.popitem(last=False)
            log.info("unloaded %s: more than %d models", dropped, MAX_MODELS_PER_REPLICA)
        return slot

    def refresh(self, slot: Slot) -> bool:
        """Swap in the version the alias points at now; True if it changed. Any failure keeps
        the current version serving and is kept in `slot.last_error`: the watcher must outlive
        every registry, storage or model error, or aliases would silently stop moving."""
        name, ref = parse_ref(slot.model_id)
        slot.checked_at = time.time()
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
        except Exception as exc:
            slot.last_error = f"{type(exc).__name__}: {exc}"
            expected = (RegistryError, IntegrityError, OSError, ValueError, RaylineError)
            log.error(
                "keeping %s version %s: cannot switch: %s",
                slot.model_id,
                slot.current.version,
                slot.last_error,
                exc_info=not isinstance(exc, expected),  # a traceback for the unforeseen only
            )
            return False
        log.info(
            "switching %s from version %s to %s", slot.model_id, slot.current.version, model.version
        )
        slot.current = model
        slot.last_error = None
        return True


def _rows_in(items: list[tuple[LoadedModel, pd.DataFrame, bool]]) -> int:
    """A batch's size in rows, so that one large request does not ride with many others."""
    return sum(len(frame) for _, frame, _ in items)


class Predictor:
    """The models of one Ingress replica: `PredictorCore` plus what needs an event loop.

    Prediction routes call it in process, so a prediction makes no Ray call: the replica that
    takes the HTTP request loads the model (`name@alias` or `name/version`) once, batches
    concurrent requests by rows, and a watcher task swaps aliases live. `reconfigure` applies
    the `predictor` section of the Ingress `user_config`.
    """

    def __init__(self, loader: Loader | None = None, resolver: Resolver | None = None) -> None:
        if loader is None:
            registry = Registry(get_settings().tracking_uri)
            loader = registry.load

            def resolver(name: str, ref: str) -> str:
                return str(registry.resolve(name, ref).version)

        self.core = PredictorCore(loader, resolver)
        self.config = _DEFAULTS
        self.tap = Tap()
        """Live profiles of the predicted rows, drained by the ingress's flusher."""
        self.unmonitored: set[str] = set()
        """Model names whose traffic is not profiled (`monitoring.enabled: false`)."""
        self._loading: dict[str, asyncio.Future[Slot]] = {}
        self._watcher = asyncio.get_running_loop().create_task(self._watch())

    def reconfigure(self, config: PredictorConfig) -> None:
        self.config = config
        self._predict_batch.set_max_batch_size(config.max_batch_size)  # type: ignore[attr-defined]
        self._predict_batch.set_batch_wait_timeout_s(  # type: ignore[attr-defined]
            config.batch_wait_timeout_s
        )

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.config.poll_interval_s)
            for slot in list(self.core.slots.values()):
                await asyncio.to_thread(self.core.refresh, slot)

    async def slot(self, model_id: str) -> Slot:
        """The model's slot, loaded on first use: concurrent first requests share one load,
        and a caller that gives up (a client timeout) does not cancel it for the others."""
        slot = self.core.get(model_id)
        if slot is not None:
            return slot
        loading = self._loading.get(model_id)
        if loading is None:
            loading = asyncio.ensure_future(self._load(model_id))
            self._loading[model_id] = loading
            loading.add_done_callback(lambda _: self._loading.pop(model_id, None))
        try:
            return await asyncio.shield(loading)
        except RegistryError as exc:
            raise model_error(exc) from None
        except IntegrityError as exc:
            log.error("refusing %s: %s", model_id, exc)
            raise ModelUnavailable(
                f"model {model_id} failed its integrity check and is not served",
                retry_after=INTEGRITY_RETRY_AFTER_S,
            ) from None
        except RaylineError:
            raise
        except Exception as exc:
            log.exception("cannot load %s", model_id)
            raise ModelUnavailable(
                f"model {model_id} could not be loaded "
                f"({type(exc).__name__}); see the Ingress replica logs",
                retry_after=LOAD_RETRY_AFTER_S,
            ) from None

    async def preload(self, model_ids: list[str], wait_s: float = STARTUP_REGISTRY_WAIT_S) -> None:
        """Load the served models before the replica takes requests (Serve routes to a replica
        once its constructor returns). While MLflow does not answer, keep trying for up to
        `wait_s`: a replica started during an outage (one replacing a killed replica) would
        otherwise join with nothing to serve and answer 503 where the others answer 200. Any
        other failure (not registered, corrupt, failed integrity) is not waited for: `/ready`
        and `status()` report it."""
        deadline = time.monotonic() + wait_s
        pause = 1.0
        for model_id in model_ids:
            while True:
                try:
                    await self.slot(model_id)
                    break
                except RegistryUnavailable as exc:
                    if time.monotonic() + pause > deadline:
                        log.error("taking requests without %s: %s", model_id, exc.detail)
                        break
                    log.warning("waiting for the registry to load %s: %s", model_id, exc.detail)
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 10.0)
                except RaylineError:
                    break

    async def _load(self, model_id: str) -> Slot:
        model = await asyncio.to_thread(self.core.fetch, model_id)
        return self.core.store(model_id, model)  # on the event loop: one thread changes slots

    async def predict(self, model_id: str, rows: Rows, want_proba: bool) -> dict[str, Any]:
        """Check `rows` against the model's signature and predict; a request of more rows than
        a batch holds is scored on its own, in a thread, so it blocks nobody."""
        slot = await self.slot(model_id)
        model = slot.current
        frame = to_frame(rows, model)
        if len(frame) > self.config.max_batch_size:
            result = await asyncio.to_thread(run_model, model, frame, want_proba)
            result["batch_size"] = len(frame)
            self._observe(model, frame, result["predictions"])
            return result
        answer: dict[str, Any] = await self._predict_batch((model, frame, want_proba))
        return answer

    @serve.batch(
        max_batch_size=_DEFAULTS.max_batch_size,
        batch_wait_timeout_s=_DEFAULTS.batch_wait_timeout_s,
        batch_size_fn=_rows_in,
    )
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
            frame = stack_frames([items[i][1] for i in indices])
            combined = run_model(model, frame, proba)
            self._observe(model, frame, combined["predictions"])
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

    def _observe(self, model: LoadedModel, frame: pd.DataFrame, predictions: list[Any]) -> None:
        """Fold scored rows into the live profile of their version (in memory: the flusher
        hands it to the Metrics deployment)."""
        if model.reference is not None and model.name not in self.unmonitored:
            self.tap.fold((model.name, model.version), model.reference, frame, predictions)

    async def status(self, model_id: str) -> dict[str, Any]:
        """Load (if needed) and describe one model; a failure is described, not raised."""
        try:
            slot = await self.slot(model_id)
        except RaylineError as exc:
            return failure_info(model_id, exc)
        return slot.info()
