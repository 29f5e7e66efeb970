"""Sweep candidates: grid expansion and deterministic random sampling."""

from __future__ import annotations

import math

from rayline.config import parse_config
from rayline.search import candidates


def _config(**search: object) -> dict[str, object]:
    return {
        "name": "t",
        "dataset": {"source": "iris"},
        "search": search,
        "estimators": {
            "knn": {"n_neighbors": [3, 5], "weights": ["uniform", "distance"]},
            "random_forest": {"n_estimators": [10, 20, 30], "max_depth": 4},
        },
    }


def test_grid_is_the_union_of_per_family_products() -> None:
    found = candidates(parse_config(_config(algorithm="grid"), "t"))
    assert len(found) == 2 * 2 + 3
    assert [c.index for c in found] == list(range(7))
    assert {"n_estimators": 20, "max_depth": 4} in [c.params for c in found]


def test_the_largest_configurations_come_first_the_rest_in_grid_order() -> None:
    found = candidates(parse_config(_config(algorithm="grid"), "t"))
    assert [c.params.get("n_estimators") for c in found] == [30, 20, 10, None, None, None, None]
    knn = [(c.params["n_neighbors"], c.params["weights"]) for c in found if c.family == "knn"]
    assert knn == [(3, "uniform"), (3, "distance"), (5, "uniform"), (5, "distance")]


def test_random_is_seeded_distinct_and_within_bounds() -> None:
    data = _config(num_samples=6)
    data["estimators"] = {
        "linear": {"C": {"loguniform": [0.01, 100.0]}},
        "knn": {"n_neighbors": {"randint": [1, 30]}},
    }
    first = candidates(parse_config(data, "t"))
    assert first == candidates(parse_config(data, "t"))
    assert len(first) == 6
    assert {c.family for c in first} == {"linear", "knn"}
    for c in first:
        if c.family == "linear":
            assert 0.01 <= c.params["C"] <= 100.0 and not math.isnan(c.params["C"])
        else:
            assert 1 <= c.params["n_neighbors"] <= 30 and isinstance(c.params["n_neighbors"], int)


def test_random_stops_when_a_small_space_is_exhausted() -> None:
    data = _config(num_samples=50)
    data["estimators"] = {"knn": {"n_neighbors": [3, 5]}}
    found = candidates(parse_config(data, "t"))
    assert sorted(c.params["n_neighbors"] for c in found) == [3, 5]


def test_empty_space_uses_the_catalog_default() -> None:
    data = _config(num_samples=4)
    data["estimators"] = {"svm": {}}
    found = candidates(parse_config(data, "t"))
    assert all({"C", "gamma"} <= set(c.params) for c in found)
