"""The MLflow Model Registry as Rayline uses it: versions, aliases, metrics, verified loading."""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException, RestException

from rayline import integrity
from rayline.estimators import CompiledPipeline, predicts_argmax
from rayline.monitoring.profile import REFERENCE_FILE, Profile
from rayline.search import _plain  # numpy scalars → Python ones, as the sweep's params

SWEEP_TAG = "rayline.sweep_key"
TASK_TAG = "rayline.task"
FAMILY_TAG = "rayline.family"
NODE_TAG = "rayline.ray_node_id"
"""On a trial's run: the Ray node it ran on."""
CHAMPION = "champion"
CHALLENGER = "challenger"
WITHDRAW_S = 120.0
"""How long deleting a half-registered version keeps asking a registry that does not answer."""
WITHDRAW_RETRY_S = 2.0

log = logging.getLogger(__name__)


class RegistryError(RuntimeError):
    """The registry cannot answer (unknown model/alias, or MLflow unreachable)."""

    def __init__(self, message: str, status: int = 503) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: str
    required: bool = True


@dataclass
class LoadedModel:
    """A verified model ready to predict, with what a server needs to describe it."""

    name: str
    ref: str
    version: str
    model: Any
    task: str
    inputs: list[ColumnSpec] = field(default_factory=list)
    input_example: pd.DataFrame | None = None
    run_id: str | None = None
    loaded_at: float = field(default_factory=time.time)
    reference: Profile | None = None
    """The training data's profile, logged with the model (None for models logged without
    one): live traffic is compared with it."""
    compiled: CompiledPipeline | None = None
    """The model's numpy-only fast path, set by `rayline.inference.warm_up` once its answers
    were checked to be scikit-learn's (None: every prediction goes through `model`)."""

    @cached_property
    def classes(self) -> list[Any] | None:
        classes = getattr(self.model, "classes_", None)
        return None if classes is None else [_plain(c) for c in classes]

    @cached_property
    def input_names(self) -> list[str]:
        return [c.name for c in self.inputs]

    @cached_property
    def input_index(self) -> pd.Index:
        """The input columns as one pandas Index for every request's frame: building it per
        request (pandas' string dtype, backed by Arrow) cost more than predicting one row."""
        return pd.Index(self.input_names)

    @cached_property
    def argmax(self) -> bool:
        """Whether one predict_proba pass gives the predictions too (`predicts_argmax`)."""
        return predicts_argmax(self.model)


def parse_ref(model_id: str) -> tuple[str, str]:
    """`name@alias` or `name/version` → (name, alias-or-version)."""
    for sep in ("@", "/"):
        if sep in model_id:
            name, _, ref = model_id.partition(sep)
            if name and ref:
                return name, ref
    raise RegistryError(f"model '{model_id}': use name@alias or name/version", status=400)


class Registry:
    """Thin, typed wrapper over `MlflowClient` for Rayline's registry operations."""

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    # --- reading ----------------------------------------------------------------------------
    def resolve(self, name: str, ref: str) -> ModelVersion:
        """The version an alias (or version number) points at."""
        try:
            if ref.isdigit():
                return self.client.get_model_version(name, ref)
            return self.client.get_model_version_by_alias(name, ref)
        except RestException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise RegistryError(f"model {name}@{ref} is not registered", 404) from None
            raise RegistryError(f"registry error for {name}@{ref}: {exc.message}") from None
        except MlflowException as exc:
            if exc.error_code == "INVALID_PARAMETER_VALUE":  # refused by the client: no such name
                raise RegistryError(f"model {name}@{ref} is not registered", 404) from None
            raise RegistryError(f"registry unavailable: {exc.message}") from None

    def versions(self, name: str) -> list[ModelVersion]:
        found = self.client.search_model_versions(f"name='{_quote(name)}'", max_results=1000)
        return sorted(found, key=lambda v: int(v.version), reverse=True)

    def find_sweep_version(self, name: str, sweep_key: str) -> ModelVersion | None:
        """The version a previous run of the same config and data registered, if any."""
        try:
            candidates = self.versions(name)
        except MlflowException:
            return None
        return next((v for v in candidates if v.tags.get(SWEEP_TAG) == sweep_key), None)

    def alias_version(self, name: str, alias: str) -> str | None:
        try:
            return str(self.client.get_model_version_by_alias(name, alias).version)
        except MlflowException:
            return None

    def run_metrics(self, run_id: str | None) -> dict[str, float]:
        if not run_id:
            return {}
        try:
            return dict(self.client.get_run(run_id).data.metrics)
        except MlflowException:
            return {}

    # --- writing ----------------------------------------------------------------------------
    def register(
        self, model_uri: str, model_id: str | None, name: str, run_id: str, tags: dict[str, str]
    ) -> str:
        """Create the registered model if needed and a new version of the logged model."""
        try:
            self.client.create_registered_model(name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        version = self.client.create_model_version(
            name, model_uri, run_id=run_id, tags=tags, model_id=model_id
        )
        with self.withdrawn_on_failure(name, str(version.version)):
            for _ in range(60):
                if self.client.get_model_version(name, version.version).status == "READY":
                    break
                time.sleep(0.5)
        return str(version.version)

    @contextlib.contextmanager
    def withdrawn_on_failure(self, name: str, version: str) -> Iterator[None]:
        """Delete `version` if the block fails (the registry or its store down after the
        version was created): a version is registered whole, with its manifest and aliases, or
        not at all, and a failed job leaves none behind."""
        try:
            yield
        except BaseException as failure:
            try:
                self.withdraw(name, version)
            except MlflowException as exc:
                raise RegistryError(
                    f"{name} version {version} was created but its registration failed "
                    f"({failure}), and deleting it failed too ({exc.message}): delete it in "
                    "the MLflow UI or with MlflowClient().delete_model_version before serving "
                    "it"
                ) from failure
            raise

    def withdraw(self, name: str, version: str) -> None:
        """Delete a version, asking again for `WITHDRAW_S` while the registry does not answer."""
        deadline = time.monotonic() + WITHDRAW_S
        while True:
            try:
                self.client.delete_model_version(name, version)
                return
            except MlflowException as exc:
                if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                    return
                if time.monotonic() > deadline:
                    raise
                log.warning("deleting %s version %s: %s; asking again", name, version, exc)
                time.sleep(WITHDRAW_RETRY_S)

    def set_alias(self, name: str, alias: str, version: str) -> str | None:
        """Point `alias` at `version`; returns the version it pointed at before."""
        self.resolve(name, version)  # 404 for an unknown version
        previous = self.alias_version(name, alias)
        try:
            self.client.set_registered_model_alias(name, alias, version)
        except MlflowException as exc:
            raise RegistryError(f"cannot set {name}@{alias}: {exc.message}") from None
        return previous

    # --- loading ----------------------------------------------------------------------------
    def download(self, name: str, version: str, dst: Path) -> Path:
        import mlflow.artifacts

        uri = self.client.get_model_version_download_uri(name, version)
        return Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=uri, dst_path=str(dst), tracking_uri=self.tracking_uri
            )
        )

    def record_manifest(self, name: str, version: str) -> dict[str, str]:
        """Hash the stored files of a version and keep the manifest in its tags."""
        with tempfile.TemporaryDirectory() as tmp:
            files = integrity.manifest(self.download(name, version, Path(tmp)))
        self.client.set_model_version_tag(
            name, version, integrity.MANIFEST_TAG, integrity.encode(files)
        )
        return files

    def load(self, name: str, ref: str) -> LoadedModel:
        """Download, verify and deserialise `name@ref` (alias or version number)."""
        version = self.resolve(name, ref)
        label = f"{name} version {version.version}"
        with tempfile.TemporaryDirectory() as tmp:
            local = self.download(name, str(version.version), Path(tmp))
            integrity.verify(local, version.tags.get(integrity.MANIFEST_TAG), label)
            return read_model_dir(local, name, ref, version)


def read_model_dir(local: Path, name: str, ref: str, version: ModelVersion) -> LoadedModel:
    """Read an MLflow sklearn model directory already verified against its manifest."""
    from mlflow.models import Model

    meta = Model.load(str(local))
    flavor = meta.flavors.get("sklearn", {})
    if flavor.get("serialization_format") != "skops":
        raise integrity.IntegrityError(
            f"{name} version {version.version}: only skops-serialised models are loaded"
        )
    estimator = integrity.load_skops(local / flavor["pickled_model"])
    inputs: list[ColumnSpec] = []
    if meta.signature is not None:
        inputs = [
            ColumnSpec(str(col.name), col.type.name, bool(getattr(col, "required", True)))
            for col in meta.signature.inputs.inputs
        ]
    example = meta.load_input_example(str(local))
    reference_path = local / "extra_files" / REFERENCE_FILE
    reference = None
    if reference_path.is_file():
        reference = Profile.from_json(json.loads(reference_path.read_text()))
    return LoadedModel(
        name=name,
        ref=ref,
        version=str(version.version),
        model=estimator,
        task=version.tags.get(TASK_TAG, "classification"),
        inputs=inputs,
        input_example=example if isinstance(example, pd.DataFrame) else None,
        run_id=version.run_id,
        reference=reference,
    )


def _quote(value: str) -> str:
    return value.replace("'", "\\'")
