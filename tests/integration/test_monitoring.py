"""Monitoring on the real stack: a model trained by a Ray Job carries its reference profile,
traffic from the training distribution does not drift, two features shifted by 2 std do, and
feedback with 30 % wrong labels shows as live accuracy and a quality alarm.

The model is this module's own (`iris_mon`), so no other test's traffic lands in its window."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_iris

from rayline.registry import Registry
from tests.conftest import write_config
from tests.stack import Stack
from tests.waiting import wait_until

pytestmark = pytest.mark.integration

MODEL = "iris_mon"
COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
SHIFTED = ["petal length (cm)", "sepal width (cm)"]
CHUNK = 100


@pytest.fixture(scope="module")
def monitored(serving: Stack) -> Stack:
    """`iris_mon`, trained by a real Ray Job (one linear family: quick)."""
    path = write_config(
        serving.configs,
        MODEL,
        search={"num_samples": 2},
        estimators={"linear": {}},
        ensemble={"enabled": False},
    )
    serving.train(path)
    return serving


def _rows(n: int, seed: int, shift: float = 0.0) -> list[dict[str, float]]:
    frame = load_iris(as_frame=True).data
    frame.columns = COLUMNS
    picked = frame.iloc[np.random.default_rng(seed).integers(0, len(frame), n)].copy()
    for name in SHIFTED:
        picked[name] += shift * frame[name].std()
    return picked.to_dict(orient="records")


def _predict(stack: Stack, rows: list[dict[str, float]]) -> list[tuple[str, list[Any]]]:
    """(prediction id, predictions) of each request of `CHUNK` rows."""
    answers = []
    for start in range(0, len(rows), CHUNK):
        status, body, headers = stack.http(
            "POST", f"/v1/models/{MODEL}/predict", {"instances": rows[start : start + CHUNK]}
        )
        assert status == 200, body
        answers.append((headers["X-Prediction-Id"], body["predictions"]))
    return answers


def _report(stack: Stack) -> dict[str, Any]:
    status, body, _ = stack.http("GET", f"/v1/models/{MODEL}/monitoring")
    assert status == 200, body
    return body


def _window_rows(stack: Stack) -> int:
    status, body, _ = stack.http("GET", f"/v1/models/{MODEL}/monitoring")
    if status == 404:  # not in the app's models, and no prediction yet
        return 0
    assert status == 200, body
    versions = body["versions"]
    return int(versions[0]["window"]["rows"]) if versions else 0


def _send(
    stack: Stack, rows: list[dict[str, float]]
) -> tuple[list[tuple[str, list[Any]]], dict[str, Any]]:
    """Predict `rows`: the answers, and the newest version's report once its window holds the
    rows too (replicas hand their profiles and predictions over every second; tests run in any
    order, so count from now)."""
    before = _window_rows(stack)
    answers = _predict(stack, rows)

    def holds() -> dict[str, Any] | None:
        if _window_rows(stack) < before + len(rows):
            return None
        return dict(_report(stack)["versions"][0])

    return answers, wait_until(holds, 60, f"{len(rows)} more rows in the window")


def test_the_job_logs_a_reference_profile_with_the_model(monitored: Stack) -> None:
    model = Registry(monitored.settings.tracking_uri).load(MODEL, "champion")
    assert model.reference is not None
    assert model.reference.features == COLUMNS
    assert model.reference.rows > 100 and "accuracy" in model.reference.metrics


def test_training_traffic_does_not_drift_and_shifted_traffic_does(monitored: Stack) -> None:
    _, calm = _send(monitored, _rows(2000, seed=1))
    assert calm["drift"]["verdict"] == "no_drift", calm["drift"]
    assert not [f["name"] for f in calm["drift"]["features"] if f["drifted"]]

    drift = _send(monitored, _rows(2000, seed=2, shift=2.0))[1]["drift"]
    assert {f["name"] for f in drift["features"] if f["drifted"]} == set(SHIFTED)
    assert drift["drifted_share"] == 0.5
    assert drift["verdict"] == "drift"  # half the features: the default share rule


def test_feedback_with_thirty_percent_wrong_labels_raises_a_quality_alarm(
    monitored: Stack,
) -> None:
    answers, _ = _send(monitored, _rows(1000, seed=3))
    rng = np.random.default_rng(4)
    labels, wrong = [], 0
    for pid, predictions in answers:
        for row, predicted in enumerate(predictions):
            mistaken = rng.random() < 0.3
            wrong += mistaken
            label = (predicted + 1) % 3 if mistaken else predicted
            labels.append({"prediction_id": pid, "row": row, "label": label})
    labels.append({"prediction_id": "never-issued", "row": 0, "label": 1})
    status, counts, _ = monitored.http("POST", f"/v1/models/{MODEL}/feedback", {"labels": labels})
    assert status == 200, counts
    assert counts == {"received": 1001, "joined": 1000, "unknown": 1, "expired": 0}
    quality = _report(monitored)["versions"][0]["quality"]
    assert quality["labelled"] == 1000
    assert quality["live"]["accuracy"] == pytest.approx(1 - wrong / 1000, abs=0.02)
    assert quality["alarm"] is True
    assert quality["training"]["accuracy"] > 0.8
