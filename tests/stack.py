"""The real local stack for integration and browser tests, one per session: a Ray head and an
MLflow server started by the same code as `make up`, on the `test` profile's ports (which do not
collide with a running `make demo`), and the Serve app deployed with `serve deploy`; all stopped
at the end. The harness is the product's (`rayline.stack.harness`); this module holds the
session fixtures and the settings every test stack shares."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bench.train_config import write_config
from rayline.stack.harness import BIN, LocalStack
from rayline.stack.profiles import TEST
from rayline.training import result_event

__all__ = [
    "APP_ARGS",
    "BIN",
    "EXPERIMENT",
    "PREDICTOR_CONFIG",
    "Stack",
    "iris_model",
    "serving",
    "stack",
    "two_versions",
]

Stack = LocalStack
"""The session stack's type, as the tests annotate it."""

EXPERIMENT = {"RAYLINE_EXPERIMENT": "rayline-tests"}
APP_ARGS = {"scheduler_tick_s": 1}
PREDICTOR_CONFIG = {"poll_interval_s": 1}
"""A test sees a schedule's tick and a promotion within about a second."""


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("home")
    with LocalStack.from_profile(
        TEST, home, EXPERIMENT, app_args=APP_ARGS, predictor_config=PREDICTOR_CONFIG
    ) as running:
        yield running


@pytest.fixture(scope="session")
def iris_model(stack: Stack) -> dict[str, Any]:
    """An `iris_it` model trained once by a real Ray Job; returns the job's result event."""
    return result_event(stack.train(write_config(stack.configs, "iris_it")).stdout)


@pytest.fixture(scope="session")
def serving(stack: Stack, iris_model: dict[str, Any]) -> Stack:
    """The Serve app deployed with `serve deploy` from serve_config.yaml (test port/models)."""
    stack.deploy(["iris_it"])
    return stack


@pytest.fixture(scope="session")
def two_versions(serving: Stack) -> str:
    """`iris_two`, a model with two versions from two real Ray Jobs; returns its name. The tests
    that move its champion set the alias they start from, and undo what they damage."""
    path = write_config(serving.configs, "iris_two", search={"num_samples": 2})
    serving.train(path)
    assert "registered iris_two version 2" in serving.train(path, "--force").stdout
    return "iris_two"
