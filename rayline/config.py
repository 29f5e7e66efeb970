"""Training configuration: the schema of `configs/train/*.yaml` and its loader.

Every model forbids unknown keys; a bad file fails before Ray starts with a message that names
the file, the key and the allowed values.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rayline.estimators import CATALOG, Task, estimator_params, families_for
from rayline.scoring import METRICS, default_metric
from rayline.settings import shipped_path

CONFIG_DIR = shipped_path("configs/train", "rayline_configs", "train")
"""The shipped training configs: `configs/train/` in a checkout, package data when installed."""
DISTRIBUTIONS = ("uniform", "loguniform", "randint")
BUILTIN_DATASETS: dict[str, Task] = {
    "iris": "classification",
    "wine": "classification",
    "breast_cancer": "classification",
    "digits": "classification",
    "diabetes": "regression",
}


class ConfigError(ValueError):
    """A training config that cannot be used; the message says where and what to change."""


class Strict(BaseModel):
    """A model of a YAML or JSON document: a key it does not know is an error naming the key."""

    model_config = ConfigDict(extra="forbid")


class Frozen(Strict):
    """Strict, and fixed once validated: a training config's parts."""

    model_config = ConfigDict(frozen=True)


class DatasetConfig(Frozen):
    """Where the data comes from and what to predict."""

    source: str = Field(min_length=1)
    """A built-in name (iris, wine, breast_cancer, digits, diabetes), a CSV/Parquet path or
    an `s3://` URI."""
    target: str = "target"
    """The column to predict."""
    task: Task | None = None
    """classification or regression; inferred for built-in datasets."""
    format: Literal["csv", "parquet"] | None = None
    """File format; inferred from the file suffix when omitted."""

    @property
    def builtin(self) -> bool:
        return self.source in BUILTIN_DATASETS

    @property
    def resolved_task(self) -> Task:
        if self.task is not None:
            return self.task
        return BUILTIN_DATASETS[self.source]

    @model_validator(mode="after")
    def _task_known(self) -> DatasetConfig:
        if self.task is None and not self.builtin:
            raise ValueError(
                "dataset.task is required for file datasets: use 'classification' or 'regression'"
            )
        if self.builtin and self.task not in (None, BUILTIN_DATASETS[self.source]):
            raise ValueError(
                f"dataset.task: {self.source} is a {BUILTIN_DATASETS[self.source]} dataset"
            )
        return self


class SplitConfig(Frozen):
    """The held-out test split and cross-validation on the rest."""

    test_size: float = Field(0.2, gt=0.0, lt=0.5)
    cv_folds: int = Field(5, ge=2, le=20)
    seed: int = 42


class SearchConfig(Frozen):
    """How the sweep explores the estimator families' spaces."""

    algorithm: Literal["random", "grid"] = "random"
    num_samples: int = Field(16, ge=1, le=10_000)
    """Random search: number of sampled configurations over all families."""
    metric: str | None = None
    """Score to maximise; default accuracy (classification) or r2 (regression)."""
    cpus_per_trial: float = Field(1.0, gt=0, le=64)
    max_concurrent_trials: int | None = Field(None, ge=1)
    early_stopping: bool = False
    """Stop poor trials after their first folds (ASHA over the CV folds)."""


class EnsembleConfig(Frozen):
    """An ensemble of the top trials, kept if it cross-validates better than the best one."""

    enabled: bool = True
    top_k: int = Field(3, ge=2, le=10)
    method: Literal["voting", "stacking"] = "voting"


class RegistrationConfig(Frozen):
    """Registry policy: the new version becomes `challenger`; `champion` follows the policy."""

    promote: Literal["if_better", "always", "never"] = "if_better"
    min_improvement: float = Field(0.0, ge=0.0)


class TrainConfig(Frozen):
    """A whole training run: data, split, sweep, ensemble and registration."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
    """Registered model name."""
    description: str = ""
    dataset: DatasetConfig
    split: SplitConfig = Field(default_factory=SplitConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    estimators: dict[str, dict[str, Any]] = Field(min_length=1)
    """Family name → search space (`{}` for the family's default space)."""
    ensemble: EnsembleConfig = Field(default_factory=EnsembleConfig)
    registration: RegistrationConfig = Field(default_factory=RegistrationConfig)

    @property
    def task(self) -> Task:
        return self.dataset.resolved_task

    @property
    def metric(self) -> str:
        return self.search.metric or default_metric(self.task)

    def space(self, family: str) -> dict[str, Any]:
        """The family's search space: the config's, or the catalog default when empty."""
        return self.estimators[family] or CATALOG[family].space.get(self.task, {})

    def digest(self) -> str:
        """Stable hash of the config's content."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()

    @model_validator(mode="after")
    def _families_params_metric(self) -> TrainConfig:
        task = self.task
        allowed = families_for(task)
        for family, space in self.estimators.items():
            if family not in allowed:
                raise ValueError(
                    f"estimators.{family}: unknown family for {task}; allowed: "
                    + ", ".join(allowed)
                )
            known = estimator_params(family, task)
            for param, spec in space.items():
                if param not in known:
                    raise ValueError(
                        f"estimators.{family}.{param}: not a parameter of this estimator; "
                        f"allowed: {', '.join(sorted(known))}"
                    )
                _check_spec(f"estimators.{family}.{param}", spec, self.search.algorithm)
            if self.search.algorithm == "grid":
                for param, spec in self.space(family).items():
                    _check_spec(f"estimators.{family}.{param}", spec, "grid")
        if self.metric not in METRICS[task]:
            raise ValueError(
                f"search.metric: {self.metric!r} is not a {task} metric; allowed: "
                + ", ".join(METRICS[task])
            )
        return self


def _check_spec(where: str, spec: Any, algorithm: str) -> None:
    if isinstance(spec, list) and not spec:
        raise ValueError(f"{where}: an empty list has nothing to search")
    if isinstance(spec, dict):
        if len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
            raise ValueError(
                f"{where}: a distribution is one of {{uniform|loguniform|randint: [low, high]}}"
            )
        kind, bounds = next(iter(spec.items()))
        if algorithm == "grid":
            raise ValueError(
                f"{where}: grid search needs a list of values, not a {kind} distribution"
            )
        if not (isinstance(bounds, list) and len(bounds) == 2 and bounds[0] < bounds[1]):
            raise ValueError(f"{where}: {kind} needs [low, high] with low < high")
        if kind == "loguniform" and bounds[0] <= 0:
            raise ValueError(f"{where}: loguniform bounds must be positive")


def resolve_config_path(ref: str | Path) -> Path:
    """A config path as given, or the name of a shipped config in configs/train/."""
    path = Path(ref)
    if path.is_file():
        return path
    shipped = CONFIG_DIR / f"{ref}.yaml"
    if shipped.is_file():
        return shipped
    names = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
    raise ConfigError(f"{ref}: no such config file; shipped configs: {names}")


def parse_config(data: Any, source: str) -> TrainConfig:
    """Validate already-parsed YAML/JSON; `source` names it in error messages."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level")
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, source)) from None


def load_config(ref: str | Path) -> TrainConfig:
    """Read and validate a training config file (or shipped config name)."""
    path = resolve_config_path(ref)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it as a text file ({type(exc).__name__})") from None
    return parse_config(data, str(path))


def _explain(exc: ValidationError, source: str) -> str:
    lines = []
    for error in exc.errors():
        loc = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            allowed = _allowed_keys(error["loc"][:-1])
            lines.append(f"{source}: unknown key '{loc}'; allowed here: {', '.join(allowed)}")
        elif error["type"] == "value_error":
            message = str(error["ctx"]["error"]) if "ctx" in error else error["msg"]
            lines.append(f"{source}: {loc + ': ' if loc else ''}{message}")
        else:
            lines.append(f"{source}: {loc}: {error['msg']}")
    return "\n".join(lines)


def _allowed_keys(loc: tuple[int | str, ...]) -> list[str]:
    model: type[BaseModel] = TrainConfig
    for part in loc:
        annotation = model.model_fields[str(part)].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)
