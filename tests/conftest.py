"""Shared test setup: the session stack's fixtures, and `write_config` for the tests' configs."""

from __future__ import annotations

# `write_config` lives in the bench (which `make chaos` runs and must not import the tests);
# re-exported so `from tests.conftest import write_config` keeps working.
from bench.train_config import write_config as write_config

# The session fixtures `stack`, `iris_model` and `serving` (real Ray, MLflow and Serve).
pytest_plugins = ["tests.stack"]
