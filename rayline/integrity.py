"""Model integrity: SHA-256 manifests of a model's files, and a safe deserialiser.

Trust model: the registry (MLflow's database) is the trust anchor. At registration Rayline
records a manifest of every file of the model in a model-version tag; before a replica loads a
model it recomputes the manifest from the downloaded files and refuses any difference. The
estimator itself is read with skops using Rayline's own allow-list of types (never the list
stored beside the model), so a swapped file cannot run code even if the manifest were bypassed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

MANIFEST_TAG = "rayline.manifest"
# Types the skops loader may construct: scikit-learn, numpy and plain Python containers.
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "builtins.", "collections.", "scipy.sparse.")


class IntegrityError(RuntimeError):
    """A model's files do not match what was registered, or hold untrusted types."""


def manifest(model_dir: Path) -> dict[str, str]:
    """Relative path → SHA-256 of every file below `model_dir`."""
    result: dict[str, str] = {}
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        result[path.relative_to(model_dir).as_posix()] = digest.hexdigest()
    return result


def encode(files: dict[str, str]) -> str:
    return json.dumps(files, sort_keys=True, separators=(",", ":"))


def verify(model_dir: Path, recorded: str | None, label: str) -> None:
    """Raise IntegrityError unless `model_dir` matches the recorded manifest exactly."""
    if not recorded:
        raise IntegrityError(
            f"{label}: no {MANIFEST_TAG} tag in the registry; only models registered by "
            "Rayline's training job can be served"
        )
    expected: dict[str, str] = json.loads(recorded)
    actual = manifest(model_dir)
    changed = sorted(k for k in expected.keys() & actual.keys() if expected[k] != actual[k])
    missing = sorted(expected.keys() - actual.keys())
    extra = sorted(actual.keys() - expected.keys())
    if changed or missing or extra:
        parts = [
            f"{name}: {', '.join(files)}"
            for name, files in (("changed", changed), ("missing", missing), ("unexpected", extra))
            if files
        ]
        raise IntegrityError(f"{label}: artifact does not match its manifest ({'; '.join(parts)})")


def trusted_types(untrusted: list[str]) -> list[str]:
    """The types skops needs trusted, if all are inside Rayline's allow-list."""
    outside = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
    if outside:
        raise IntegrityError(
            "model holds types outside the allow-list (" + ", ".join(outside) + ")"
        )
    return untrusted


def skops_types_for(model: Any) -> list[str]:
    """The skops trust list needed to save `model`, checked against the allow-list."""
    import skops.io

    return trusted_types(skops.io.get_untrusted_types(data=skops.io.dumps(model)))


def load_skops(path: Path) -> Any:
    """Deserialise a skops file trusting only allow-listed types."""
    import skops.io

    types = trusted_types(skops.io.get_untrusted_types(file=path))
    return skops.io.load(path, trusted=types)
