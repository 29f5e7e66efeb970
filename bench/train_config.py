"""A small, fast training config written to a folder: what `make chaos` and the tests train.

Here rather than in tests/ so the bench never imports the tests (tests may import the bench).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def write_config(folder: Path, name: str, **overrides: Any) -> Path:
    """A small, fast training config (iris, 4 trials, 3 folds) with `overrides` merged in."""
    config: dict[str, Any] = {
        "name": name,
        "dataset": {"source": "iris"},
        "split": {"cv_folds": 3},
        "search": {"algorithm": "random", "num_samples": 4},
        "estimators": {"linear": {}, "knn": {"n_neighbors": [3, 5, 7]}},
        "ensemble": {"enabled": True, "top_k": 2},
    }
    for key, value in overrides.items():
        if key != "estimators" and isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path
