"""A version is registered whole or not at all: `Registry.withdrawn_on_failure` over a real
MLflow registry (SQLite, in process)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException

from rayline import registry as registry_module
from rayline.registry import Registry, RegistryError
from rayline.training import full_store_error, local_artifact_store


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    registry = Registry(f"sqlite:///{tmp_path / 'mlflow.db'}")
    registry.client.create_registered_model("iris")
    return registry


def new_version(registry: Registry, tmp_path: Path) -> str:
    (tmp_path / "model").mkdir(exist_ok=True)
    version = registry.client.create_model_version("iris", str(tmp_path / "model"))
    return str(version.version)


def live_versions(registry: Registry) -> list[str]:
    return [str(v.version) for v in registry.versions("iris")]


def test_a_registration_that_fails_after_the_version_exists_deletes_it(
    registry: Registry, tmp_path: Path
) -> None:
    kept = new_version(registry, tmp_path)
    version = new_version(registry, tmp_path)
    with (
        pytest.raises(ConnectionError, match="store down"),
        registry.withdrawn_on_failure("iris", version),
    ):
        registry.client.set_registered_model_alias("iris", "challenger", version)
        raise ConnectionError("store down")  # e.g. the manifest's download, or the next alias
    assert live_versions(registry) == [kept]
    assert "challenger" not in (registry.client.get_registered_model("iris").aliases or {})


def test_a_registration_that_succeeds_keeps_its_version(registry: Registry, tmp_path: Path) -> None:
    version = new_version(registry, tmp_path)
    with registry.withdrawn_on_failure("iris", version):
        registry.client.set_registered_model_alias("iris", "challenger", version)
    assert live_versions(registry) == [version]


def test_when_the_version_cannot_be_deleted_either_the_error_names_it(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = new_version(registry, tmp_path)
    monkeypatch.setattr(registry_module, "WITHDRAW_S", 0.0)
    attempts: list[str] = []

    def unreachable(name: str, number: str) -> None:
        attempts.append(number)
        raise MlflowException("connection refused")

    monkeypatch.setattr(registry.client, "delete_model_version", unreachable)
    with (
        pytest.raises(RegistryError, match=f"iris version {version} was created") as failed,
        registry.withdrawn_on_failure("iris", version),
    ):
        raise ConnectionError("store down")
    assert "delete_model_version" in str(failed.value) and "store down" in str(failed.value)
    assert attempts == [version]


def test_only_a_folder_on_this_machine_is_a_local_artifact_store(tmp_path: Path) -> None:

    assert local_artifact_store("/home/me/.rayline/artifacts") == Path(
        "/home/me/.rayline/artifacts"
    )
    assert local_artifact_store("file:///srv/artifacts") == Path("/srv/artifacts")
    assert local_artifact_store("s3://bucket/mlflow") is None
    # A store with room: a failure there is not blamed on the disk.
    assert full_store_error(tmp_path / "artifacts", ConnectionError("reset")) is None
    assert full_store_error(None, ConnectionError("reset")) is None
