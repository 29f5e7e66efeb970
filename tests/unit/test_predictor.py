"""Predictor deployment without Serve, with a real small model and an in-memory loader: loading
by model id, the live swap that keeps the old version when the new one fails, the watcher that
asks for the alias's version before loading, registry errors as domain errors, and the typed
`user_config`."""

from __future__ import annotations

import asyncio
import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from rayline.errors import BadRequest, ModelNotFound, RegistryUnavailable
from rayline.integrity import IntegrityError
from rayline.registry import ColumnSpec, LoadedModel, RegistryError
from rayline.rows import Rows
from serve_app.predictor import Predictor, PredictorCore, model_error
from serve_app.schemas import IngressConfig, PredictorConfig

COLUMNS = ["a", "b", "c", "d"]


def _model(version: str, ref: str = "champion") -> LoadedModel:
    X, y = load_iris(return_X_y=True, as_frame=True)
    X.columns = COLUMNS
    return LoadedModel(
        name="iris",
        ref=ref,
        version=version,
        task="classification",
        model=LogisticRegression(max_iter=500).fit(X, y),
        inputs=[ColumnSpec(c, "double") for c in COLUMNS],
        input_example=X.head(2),
    )


class Registry:
    """`load` and `resolve` over one model whose alias a test moves."""

    def __init__(self) -> None:
        self.version = "1"
        self.fail: Exception | None = None
        self.fail_resolve: Exception | None = None
        self.loads = 0

    def load(self, name: str, ref: str) -> LoadedModel:
        self.loads += 1
        if self.fail is not None:
            raise self.fail
        return _model(self.version, ref)

    def resolve(self, name: str, ref: str) -> str:
        if self.fail_resolve is not None:
            raise self.fail_resolve
        return self.version


def test_load_describes_the_slot() -> None:
    core = PredictorCore(Registry().load)
    info = core.load("iris@champion").info()
    assert (info["model_id"], info["version"], info["status"]) == ("iris@champion", "1", "ready")
    assert [c["name"] for c in info["inputs"]] == COLUMNS
    assert info["input_example"] == {"a": 5.1, "b": 3.5, "c": 1.4, "d": 0.2}
    assert info["classes"] == [0, 1, 2] and info["last_error"] is None
    assert core.slots["iris@champion"].current.version == "1"


def test_overlapping_loads_of_one_model_share_the_slot_the_watcher_refreshes() -> None:
    """Serve lets a second load of a model start when the first caller is cancelled, while the
    first load still runs in its thread; both must end with the one slot the watcher sees."""
    registry = Registry()
    both_loading, calls = threading.Barrier(2), itertools.count()

    def load(name: str, ref: str) -> LoadedModel:
        if next(calls) < 2:  # the two overlapping loads meet here
            both_loading.wait(timeout=10)
        return registry.load(name, ref)

    core = PredictorCore(load, registry.resolve)
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(core.load, ["iris@champion"] * 2)
    assert first is second is core.slots["iris@champion"] and registry.loads == 2
    registry.version = "2"
    assert core.refresh(core.slots["iris@champion"])
    assert first.current.version == "2"  # the slot requests hold followed the alias
    assert core.load("iris@champion") is first and registry.loads == 3  # no third download


def test_refresh_swaps_to_the_new_version() -> None:
    registry = Registry()
    core = PredictorCore(registry.load)
    slot = core.load("iris@champion")
    assert not core.refresh(slot)
    registry.version = "2"
    assert core.refresh(slot)
    assert slot.current.version == "2" and slot.last_error is None


@pytest.mark.parametrize(
    "failure", [IntegrityError("tampered"), RegistryError("down"), KeyError("artifact_path")]
)
def test_failed_switch_keeps_serving_the_old_version(failure: Exception) -> None:
    registry = Registry()
    core = PredictorCore(registry.load)
    slot = core.load("iris@champion")
    registry.version, registry.fail = "2", failure
    assert not core.refresh(slot)
    assert slot.current.version == "1"
    assert slot.last_error is not None and type(failure).__name__ in slot.last_error
    assert slot.info()["last_error"] == slot.last_error
    assert slot.info()["checked_at"] is not None


def test_model_ids_by_version_and_bad_ids() -> None:
    core = PredictorCore(Registry().load)
    assert core.load("iris/1").current.ref == "1"
    with pytest.raises(RegistryError, match="use name@alias"):
        core.load("iris")


def test_watcher_loads_only_when_the_alias_moved() -> None:
    registry = Registry()
    core = PredictorCore(registry.load, registry.resolve)
    slot = core.load("iris@champion")
    assert registry.loads == 1
    for _ in range(3):
        assert not core.refresh(slot)
    assert registry.loads == 1  # unchanged alias: no download, no deserialisation
    registry.version = "2"
    assert core.refresh(slot) and slot.current.version == "2" and registry.loads == 2


def test_watcher_keeps_serving_when_the_registry_is_down() -> None:
    registry = Registry()
    core = PredictorCore(registry.load, registry.resolve)
    slot = core.load("iris@champion")
    registry.fail_resolve = RegistryError("down")
    assert not core.refresh(slot)
    assert slot.current.version == "1" and "RegistryError" in (slot.last_error or "")


@pytest.mark.parametrize(
    ("error", "kind", "status", "retry_after"),
    [
        (RegistryError("model x@champion is not registered", 404), ModelNotFound, 404, None),
        (RegistryError("registry unavailable: refused"), RegistryUnavailable, 503, 5),
        (RegistryError("model 'x': use name@alias or name/version", 400), BadRequest, 400, None),
    ],
)
def test_registry_errors_become_domain_errors_with_the_same_answer(
    error: RegistryError, kind: type, status: int, retry_after: int | None
) -> None:
    mapped = model_error(error)
    assert type(mapped) is kind
    assert (mapped.status, mapped.detail, mapped.retry_after) == (status, str(error), retry_after)


# --- user_config ----------------------------------------------------------------------------
def _bare_predictor() -> Predictor:
    """A predictor without its constructor (no registry, no watcher task)."""
    bare: Predictor = object.__new__(Predictor)
    return bare


def test_reconfigure_applies_the_typed_user_config() -> None:
    predictor = _bare_predictor()
    config = IngressConfig.from_user_config(
        {"predictor": {"poll_interval_s": 2, "max_batch_size": 8, "batch_wait_timeout_s": 0.01}}
    )
    predictor.reconfigure(config.predictor)
    assert predictor.config.poll_interval_s == 2.0
    batch = predictor._predict_batch
    assert batch._get_max_batch_size() == 8  # type: ignore[attr-defined]
    assert batch._get_batch_wait_timeout_s() == 0.01  # type: ignore[attr-defined]
    predictor.reconfigure(IngressConfig.from_user_config({}).predictor)  # defaults for all
    assert predictor.config.max_batch_size == 256
    assert batch._get_max_batch_size() == 256  # type: ignore[attr-defined]


# --- the predictor in its replica: shared loads, the model limit, large requests -------------
def test_concurrent_first_requests_share_one_load_that_a_cancelled_caller_does_not_stop() -> None:
    registry, release = Registry(), threading.Event()

    def load(name: str, ref: str) -> LoadedModel:
        release.wait(timeout=10)
        return registry.load(name, ref)

    async def scenario() -> None:
        predictor = Predictor(load, registry.resolve)
        gives_up = asyncio.ensure_future(predictor.slot("iris@champion"))
        waits = asyncio.ensure_future(predictor.slot("iris@champion"))
        await asyncio.sleep(0.05)
        gives_up.cancel()  # a client timeout while the model loads
        release.set()
        slot = await waits
        assert gives_up.cancelled()
        assert registry.loads == 1
        assert predictor.core.slots == {"iris@champion": slot}
        assert await predictor.slot("iris@champion") is slot  # loaded: no second load
        assert registry.loads == 1

    asyncio.run(scenario())


def test_load_errors_reach_the_caller_as_domain_errors() -> None:
    registry = Registry()
    registry.fail = RegistryError("model 'iris' has no alias 'champion'", status=404)

    async def scenario() -> None:
        predictor = Predictor(registry.load, registry.resolve)
        with pytest.raises(ModelNotFound):
            await predictor.slot("iris@champion")
        status = await predictor.status("iris@champion")
        assert (status["status"], status["http_status"]) == ("failed", 404)
        registry.fail = None  # a failed load is not remembered: the next request loads
        assert (await predictor.status("iris@champion"))["status"] == "ready"

    asyncio.run(scenario())


def test_a_starting_replica_waits_out_an_unreachable_registry_but_not_a_missing_model() -> None:
    registry = Registry()
    registry.fail = RegistryError("registry unavailable: connection refused")  # MLflow down

    async def scenario() -> None:
        predictor = Predictor(registry.load, registry.resolve)
        preload = asyncio.ensure_future(predictor.preload(["iris@champion"], wait_s=60))
        while registry.loads < 2:  # it retried: still waiting, nothing loaded
            await asyncio.sleep(0.01)
        assert not preload.done() and not predictor.core.slots
        registry.fail = None  # MLflow is back
        await asyncio.wait_for(preload, 10)
        assert list(predictor.core.slots) == ["iris@champion"]

        registry.fail = RegistryError("model iris@gone is not registered", 404)
        await asyncio.wait_for(predictor.preload(["iris@gone"], wait_s=60), 1)  # no wait
        registry.fail = RegistryError("registry unavailable: connection refused")
        await asyncio.wait_for(predictor.preload(["iris@late"], wait_s=0), 1)  # gives up
        assert list(predictor.core.slots) == ["iris@champion"]

    asyncio.run(scenario())


def test_models_beyond_the_limit_unload_the_least_recently_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("serve_app.predictor.MAX_MODELS_PER_REPLICA", 2)
    core = PredictorCore(Registry().load)
    core.load("iris@a")
    core.load("iris@b")
    assert core.get("iris@a") is not None  # used: b is now the least recently used
    core.load("iris@c")
    assert list(core.slots) == ["iris@a", "iris@c"]


def test_a_request_larger_than_a_batch_is_scored_on_its_own() -> None:
    registry = Registry()

    async def scenario() -> dict[str, Any]:
        predictor = Predictor(registry.load, registry.resolve)
        predictor.reconfigure(PredictorConfig(max_batch_size=2))
        rows = Rows.from_instances([[5.1, 3.5, 1.4, 0.2]] * 3).check(100)
        return await predictor.predict("iris@champion", rows, want_proba=True)

    result = asyncio.run(scenario())
    assert result["predictions"] == [0, 0, 0] and result["batch_size"] == 3
    assert len(result["probabilities"]) == 3
