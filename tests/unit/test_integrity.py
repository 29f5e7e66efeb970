"""Model integrity: manifests catch any change; skops loads only allow-listed types."""

from __future__ import annotations

from pathlib import Path

import pytest
import skops.io
from sklearn.linear_model import LogisticRegression

from rayline import integrity
from rayline.integrity import IntegrityError


def _model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "MLmodel").write_text("flavors: {}\n")
    (folder / "sub" / "weights.bin").write_bytes(b"\x00\x01")
    return folder


def test_manifest_verifies_untouched_files(tmp_path: Path) -> None:
    folder = _model_dir(tmp_path)
    recorded = integrity.encode(integrity.manifest(folder))
    assert set(integrity.manifest(folder)) == {"MLmodel", "sub/weights.bin"}
    integrity.verify(folder, recorded, "m v1")


@pytest.mark.parametrize(
    ("change", "word"),
    [
        (
            lambda f: (f / "sub" / "weights.bin").write_bytes(b"\x00\x02"),
            "changed: sub/weights.bin",
        ),
        (lambda f: (f / "MLmodel").unlink(), "missing: MLmodel"),
        (lambda f: (f / "evil.py").write_text("x"), "unexpected: evil.py"),
    ],
)
def test_any_change_is_refused_naming_the_file(tmp_path: Path, change: object, word: str) -> None:
    folder = _model_dir(tmp_path)
    recorded = integrity.encode(integrity.manifest(folder))
    change(folder)  # type: ignore[operator]
    with pytest.raises(IntegrityError, match=word):
        integrity.verify(folder, recorded, "m v1")


def test_models_without_a_manifest_are_refused(tmp_path: Path) -> None:
    with pytest.raises(IntegrityError, match="no rayline.manifest tag"):
        integrity.verify(_model_dir(tmp_path), None, "m v1")


def test_skops_round_trip_trusts_only_sklearn_types(tmp_path: Path) -> None:
    model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    types = integrity.skops_types_for(model)
    assert all(t.startswith(integrity.TRUSTED_PREFIXES) for t in types)
    path = tmp_path / "m.skops"
    skops.io.dump(model, path)
    assert integrity.load_skops(path).predict([[1.0]]).tolist() == [1]


class Gadget:
    """A type outside the allow-list, as a crafted artifact would carry."""

    def __init__(self) -> None:
        self.payload = "x"


def test_skops_refuses_types_outside_the_allow_list(tmp_path: Path) -> None:
    path = tmp_path / "bad.skops"
    skops.io.dump({"model": Gadget()}, path)
    with pytest.raises(IntegrityError, match="outside the allow-list"):
        integrity.load_skops(path)
    with pytest.raises(IntegrityError):
        integrity.skops_types_for({"model": Gadget()})
