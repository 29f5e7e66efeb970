"""The sweep's candidates: grid expansion and seeded random sampling of the search spaces.

Candidates are computed here, deterministically, and handed to Ray Tune as one grid, so the same
config always sweeps the same configurations (and a benchmark can give GridSearchCV the same).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from rayline.config import TrainConfig


@dataclass(frozen=True)
class Candidate:
    """One configuration to cross-validate: a family and concrete hyperparameters."""

    index: int
    family: str
    params: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "family": self.family, "params": self.params}


SIZE_PARAMS = ("n_estimators", "max_iter")
"""Hyperparameters a fit's time grows in proportion to."""


def candidates(config: TrainConfig) -> list[Candidate]:
    """All configurations the sweep will try, in order: the largest first (by `SIZE_PARAMS`),
    so that the short fits fill the sweep's end rather than one long fit running alone while
    the other CPUs idle (24 forests on two CPUs: the last one ran alone for 11 s)."""
    if config.search.algorithm == "grid":
        found = [(f, p) for f in config.estimators for p in _grid(config.space(f))]
    else:
        found = _random(config)
    found.sort(key=lambda item: -_size(item[1]))  # stable: equal sizes keep their order
    return [Candidate(i, family, params) for i, (family, params) in enumerate(found)]


def _size(params: dict[str, Any]) -> float:
    size = 1.0
    for name in SIZE_PARAMS:
        value = params.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            size *= value
    return size


def _grid(space: dict[str, Any]) -> list[dict[str, Any]]:
    names = list(space)
    values = [spec if isinstance(spec, list) else [spec] for spec in space.values()]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]


def _random(config: TrainConfig) -> list[tuple[str, dict[str, Any]]]:
    rng = np.random.default_rng(config.split.seed)
    families = list(config.estimators)
    found: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    attempts = 0
    while len(found) < config.search.num_samples and attempts < config.search.num_samples * 20:
        family = families[attempts % len(families)]
        attempts += 1
        params = {name: _sample(spec, rng) for name, spec in config.space(family).items()}
        key = f"{family}:{sorted(params.items(), key=lambda kv: kv[0])!r}"
        if key in seen:  # small discrete spaces run out; don't fit the same thing twice
            continue
        seen.add(key)
        found.append((family, params))
    return found


def _sample(spec: Any, rng: np.random.Generator) -> Any:
    if isinstance(spec, list):
        return _plain(spec[int(rng.integers(len(spec)))])
    if isinstance(spec, dict):
        kind, (low, high) = next(iter(spec.items()))
        if kind == "uniform":
            return round(float(rng.uniform(low, high)), 6)
        if kind == "loguniform":
            return round(float(math.exp(rng.uniform(math.log(low), math.log(high)))), 6)
        return int(rng.integers(low, high + 1))
    return spec


def _plain(value: Any) -> Any:
    """numpy scalars → Python scalars, so params log and serialise cleanly."""
    return value.item() if isinstance(value, np.generic) else value
