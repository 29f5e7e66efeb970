"""A full disk under the embedded stack's local artifact store (issue #17, `disk_full_clean`):
the MLflow server's artifact folder is a small tmpfs, filled to the last byte while MLflow
runs. Registering then fails with an error that names the folder and what to do, leaves no
version behind, and the versions stored before still load and verify; with room again,
registering works without a restart."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from rayline.registry import Registry
from rayline.stack.harness import LocalStack
from rayline.stack.services import up_mlflow
from rayline.training import ArtifactStoreFull, full_store_error, local_artifact_store
from tests.integration.conftest import train_and_register

pytestmark = pytest.mark.integration

TMPFS_SIZE = "8m"


@contextlib.contextmanager
def small_disk(folder: Path) -> Iterator[Path]:
    """A tmpfs of TMPFS_SIZE mounted on `folder`: a disk of its own that can fill up."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI and `make test` run as root here)")
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0755", "tmpfs", str(folder)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False, timeout=30)


def fill(path: Path) -> None:
    """Write to `path` until the disk refuses: ENOSPC."""
    chunk = b"\0" * 65536
    with path.open("wb", buffering=0) as handle:
        while True:
            try:
                handle.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                if len(chunk) == 1:
                    return
                chunk = chunk[: len(chunk) // 2]


def test_a_full_artifact_store_fails_registration_clearly_and_corrupts_nothing(
    mlflow_home: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = mlflow_home.settings
    store = local_artifact_store(settings.artifacts_destination)
    assert store is not None, settings.artifacts_destination
    # One retry per MLflow call rather than seven with backoff: the job's client would wait
    # out minutes of them before giving up the same way.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    with small_disk(store):
        up_mlflow(settings)
        first = train_and_register(settings, "iris_full", "iris", "linear")
        filler = store / "filler"
        fill(filler)

        # What jobs/train.py does when registering fails: ask whether the store is full.
        with pytest.raises(Exception) as failed:  # MLflow's 500 or a reset
            train_and_register(settings, "iris_full", "iris", "knn")
        full = full_store_error(store, failed.value)
        assert isinstance(full, ArtifactStoreFull), failed.value
        message = str(full)
        assert f"the local artifact store {store} is full" in message, message
        assert (
            "free space on that disk" in message
            and "RAYLINE_MLFLOW_ARTIFACTS_DESTINATION" in message
        )

        registry = Registry(settings.tracking_uri)
        assert [v.version for v in registry.versions("iris_full")] == [first]
        loaded = registry.load("iris_full", first)  # downloads and checks its manifest
        assert loaded.version == first

        filler.unlink()
        second = train_and_register(settings, "iris_full", "iris", "knn")
        assert [v.version for v in registry.versions("iris_full")] == [second, first]
        assert registry.load("iris_full", second).version == second
