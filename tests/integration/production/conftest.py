"""The production cluster (cluster.py) for this package's tests: started once, with `iris_prod`
trained and served on it, stopped after the package's last test (the suite runs a stack's
tests in a row: tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rayline.stack.harness import LocalStack
from rayline.training import result_event
from tests.conftest import write_config
from tests.integration.production.cluster import Production, deploy, production_cluster


@pytest.fixture(scope="package")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Production]:
    with production_cluster(tmp_path_factory.mktemp("prod")) as running:
        yield running


@pytest.fixture(scope="package")
def iris_prod(production: Production) -> dict[str, Any]:
    """`iris_prod` trained by a real Ray Job against PostgreSQL + S3, with trials of a few
    seconds so both 1-CPU nodes are busy at once; served by one Ingress replica (HTTP and the
    models) on each node, as a cluster spreads them."""
    path = write_config(
        production.stack.configs,
        "iris_prod",
        estimators={"random_forest": {"n_estimators": [200, 300]}, "knn": {}},
        search={"num_samples": 4},
        ensemble={"enabled": False},
    )
    result = result_event(production.stack.train(path).stdout)
    deploy(production, ["iris_prod"])
    return result


@pytest.fixture
def cluster(production: Production, iris_prod: dict[str, Any]) -> LocalStack:
    """The cluster's stack, with the Serve app deployed."""
    return production.stack
