"""Training steps after the sweep: refit, ensemble, evaluate, plot, log, register, promote.

Plain functions over pandas and scikit-learn; `jobs/train.py` calls them around the Ray Tune
sweep. Progress is printed as human lines plus one JSON event line each, which the ingress reads
back from the job log to show progress.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature
from sklearn.base import BaseEstimator

from rayline import integrity
from rayline.config import TrainConfig
from rayline.datasets import Split
from rayline.estimators import make_ensemble, make_pipeline_for
from rayline.monitoring.profile import REFERENCE_FILE, Profile, reference_profile
from rayline.registry import (
    CHALLENGER,
    CHAMPION,
    FAMILY_TAG,
    NODE_TAG,
    SWEEP_TAG,
    TASK_TAG,
    Registry,
    RegistryError,
)
from rayline.scoring import cross_validate, holdout_metrics
from rayline.search import Candidate

EVENT_PREFIX = "@rayline "
SCHEDULE_METADATA = {
    "rayline_schedule": "rayline.schedule",
    "rayline_scheduled_time": "rayline.scheduled_time",
    "rayline_trigger": "rayline.trigger",
    "rayline_submission_id": "rayline.submission_id",
}
"""Ray Job metadata the scheduler sets → the MLflow tag the training run carries."""


def emit(event: str, **data: Any) -> None:
    """Print one machine-readable progress event (read back by the ingress's jobs routes)."""
    print(EVENT_PREFIX + json.dumps({"event": event, **data}, default=str), flush=True)


def read_events(logs: str) -> list[dict[str, Any]]:
    """Every event line of a job's log (`emit`), in order, each with its `event` kind; other
    lines, and event lines that are not JSON, are passed over."""
    events = []
    for line in logs.splitlines():
        if line.startswith(EVENT_PREFIX):
            try:
                events.append(json.loads(line[len(EVENT_PREFIX) :]))
            except json.JSONDecodeError:
                continue
    return events


def result_event(logs: str, event: str = "result") -> dict[str, Any]:
    """The first event of that kind in a job's log (with its `event` key); LookupError with the
    log's tail if there is none."""
    found = next((e for e in read_events(logs) if e.get("event") == event), None)
    if found is None:
        raise LookupError(f"no {event} event in the job's log:\n{logs[-3000:]}")
    return found


LATEST_EVENTS = ("progress", "run", "result", "step", "promotion")
"""The event kinds of which `parse_events` keeps the last one."""
MODEL_REQUIREMENTS = ("mlflow", "numpy", "pandas", "scikit-learn", "scipy", "skops")
"""What loading a logged model needs, pinned to the versions that trained it. Named rather than
inferred: MLflow's inference loads the model in a subprocess (~5 s a model) and lists whatever
the driver happened to import."""


def parse_events(logs: str) -> dict[str, Any]:
    """Read a training job's log back: last progress, every trial, the MLflow run, the step it
    reached, the promotion gate's scores and the result."""
    found: dict[str, Any] = dict.fromkeys(LATEST_EVENTS)
    found["trials"] = []
    for event in read_events(logs):
        kind = event.pop("event", None)
        if kind == "trial":
            found["trials"].append(event)
        elif kind in LATEST_EVENTS:
            found[kind] = event
    return found


@dataclass
class TrialResult:
    """One finished sweep trial."""

    candidate: Candidate
    score: float
    score_std: float
    fit_time_s: float
    folds_done: int
    completed: bool = True
    node_id: str = ""
    """The Ray node the trial ran on."""

    def as_event(self) -> dict[str, Any]:
        return {
            "trial": self.candidate.index,
            "family": self.candidate.family,
            "params": self.candidate.params,
            "score": self.score,
            "score_std": self.score_std,
            "fit_time_s": round(self.fit_time_s, 4),
            "status": "done" if self.completed else "stopped",
        }


@dataclass
class FinalModel:
    estimator: BaseEstimator
    family: str
    cv_score: float
    test_metrics: dict[str, float] = field(default_factory=dict)


def ranked(results: list[TrialResult]) -> list[TrialResult]:
    """Completed trials, best first."""
    return sorted((r for r in results if r.completed), key=lambda r: r.score, reverse=True)


def choose_final(config: TrainConfig, split: Split, results: list[TrialResult]) -> FinalModel:
    """Refit the best trial on all training data; try an ensemble of the top-k and keep the
    better by cross-validated score (never by the test split, which stays held out)."""
    top = ranked(results)
    if not top:
        raise RuntimeError(
            "no trial completed: every configuration failed to fit; see the "
            "trial errors above and check the estimators' parameters"
        )
    best = top[0]
    seed = config.split.seed
    chosen = FinalModel(
        make_pipeline_for(best.candidate.family, config.task, best.candidate.params, seed),
        best.candidate.family,
        best.score,
    )
    members = top[: config.ensemble.top_k]
    if config.ensemble.enabled and len(members) >= 2:
        ensemble = make_ensemble(
            [
                (
                    f"{r.candidate.family}_{r.candidate.index}",
                    make_pipeline_for(r.candidate.family, config.task, r.candidate.params, seed),
                )
                for r in members
            ],
            config.task,
            config.ensemble.method,
        )
        mean, std, _ = cross_validate(
            ensemble,
            split.X_train,
            split.y_train,
            config.task,
            config.metric,
            config.split.cv_folds,
            seed,
        )
        print(
            f"[rayline] ensemble of top {len(members)} ({config.ensemble.method}): "
            f"{config.metric}={mean:.4f}±{std:.4f} vs best trial {best.score:.4f}",
            flush=True,
        )
        if mean > best.score:
            chosen = FinalModel(ensemble, f"{config.ensemble.method}_ensemble", mean)
    chosen.estimator.fit(split.X_train, split.y_train)
    chosen.test_metrics = holdout_metrics(chosen.estimator, split.X_test, split.y_test, config.task)
    return chosen


def log_plots(model: Any, split: Split, task: str, run_id: str) -> None:
    """Confusion matrix or residuals, and feature importance, as run artifacts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import ConfusionMatrixDisplay

    client = MlflowClient()
    fig, ax = plt.subplots(figsize=(6, 5))
    if task == "classification":
        ConfusionMatrixDisplay.from_estimator(model, split.X_test, split.y_test, ax=ax)
        ax.set_title("Confusion matrix (held-out test)")
        name = "confusion_matrix.png"
    else:
        predicted = model.predict(split.X_test)
        ax.scatter(predicted, split.y_test - predicted, s=10)
        ax.axhline(0, color="grey", linewidth=1)
        ax.set(xlabel="predicted", ylabel="residual", title="Residuals (held-out test)")
        name = "residuals.png"
    client.log_figure(run_id, fig, f"plots/{name}")
    plt.close(fig)

    importance = permutation_importance(
        model, split.X_test, split.y_test, n_repeats=3, random_state=0, n_jobs=1
    )
    order = importance.importances_mean.argsort()[::-1][:15]
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.barh(
        [str(split.X_test.columns[i]) for i in order][::-1],
        importance.importances_mean[order][::-1],
    )
    ax.set_title("Permutation feature importance (held-out test)")
    fig.tight_layout()
    client.log_figure(run_id, fig, "plots/feature_importance.png")
    plt.close(fig)


def log_trial(
    client: MlflowClient, experiment_id: str, parent_run_id: str, result: TrialResult, metric: str
) -> None:
    """One nested MLflow run per trial: params, CV mean/std, fit time and the Ray node."""
    tags = {"mlflow.parentRunId": parent_run_id, FAMILY_TAG: result.candidate.family}
    if result.node_id:
        tags[NODE_TAG] = result.node_id
    run = client.create_run(
        experiment_id,
        run_name=f"trial-{result.candidate.index:03d}-{result.candidate.family}",
        tags=tags,
    )
    params = [
        mlflow.entities.Param(k, str(v)[:6000])
        for k, v in {"family": result.candidate.family, **result.candidate.params}.items()
    ]
    now = int(pd.Timestamp.now().timestamp() * 1000)
    metrics = [
        mlflow.entities.Metric(f"cv_{metric}_mean", result.score, now, 0),
        mlflow.entities.Metric(f"cv_{metric}_std", result.score_std, now, 0),
        mlflow.entities.Metric("fit_time_s", result.fit_time_s, now, 0),
        mlflow.entities.Metric("folds_done", result.folds_done, now, 0),
    ]
    client.log_batch(run.info.run_id, metrics=metrics, params=params)
    client.set_terminated(run.info.run_id, "FINISHED" if result.completed else "KILLED")


@dataclass
class Registration:
    name: str
    version: str
    aliases: list[str]
    reused: bool = False


class ArtifactStoreFull(RuntimeError):
    """Registering failed and the local artifact store has (almost) no room left."""


FULL_BELOW_BYTES = 16 * 2**20
"""A local artifact store with less free space than this counts as full when logging fails."""


def local_artifact_store(destination: str) -> Path | None:
    """The folder of an artifacts destination on this machine's disk (a path or `file://`);
    None for object storage (`s3://`)."""
    if destination.startswith("file://"):
        return Path(destination.removeprefix("file://"))
    return None if "://" in destination else Path(destination)


def full_store_error(store: Path | None, failure: BaseException) -> ArtifactStoreFull | None:
    """When `failure` happened with `store` (nearly) full, the error that says so and what to
    do; None otherwise. The MLflow server that hit the full disk only answers 500 or drops
    the connection, so its client's own error never says why."""
    if store is None:
        return None
    existing = next((p for p in (store, *store.parents) if p.exists()), None)
    if existing is None:
        return None
    free = shutil.disk_usage(existing).free
    if free >= FULL_BELOW_BYTES:
        return None
    return ArtifactStoreFull(
        f"the local artifact store {store} is full ({free} bytes free), so the model could "
        f"not be stored ({type(failure).__name__}: {failure}); free space on that disk, or "
        "point RAYLINE_MLFLOW_ARTIFACTS_DESTINATION at a folder with room and restart the "
        "stack, then run the job again"
    )


def log_and_register(
    config: TrainConfig,
    split: Split,
    final: FinalModel,
    registry: Registry,
    run_id: str,
    sweep_key: str,
    force: bool = False,
) -> Registration:
    """Log the model with signature and example, register a version, apply the alias policy.
    Without `force`, a version already registered from the same config and data is reused.
    A failure leaves no version behind (`Registry.withdrawn_on_failure`)."""
    existing = None if force else registry.find_sweep_version(config.name, sweep_key)
    if existing is not None:
        return Registration(config.name, str(existing.version), list(existing.aliases), True)

    example = split.X_train.head(3)
    signature = infer_signature(split.X_train, final.estimator.predict(split.X_train.head(20)))
    with tempfile.TemporaryDirectory() as tmp:
        reference = Path(tmp) / REFERENCE_FILE
        reference.write_text(json.dumps(monitoring_reference(config, split, final).to_json()))
        info = mlflow.sklearn.log_model(
            final.estimator,
            name="model",
            signature=signature,
            input_example=example,
            serialization_format="skops",
            skops_trusted_types=integrity.skops_types_for(final.estimator),
            pip_requirements=[f"{name}=={installed_version(name)}" for name in MODEL_REQUIREMENTS],
            extra_files=[str(reference)],
        )
    version = registry.register(
        info.model_uri,
        info.model_id,
        config.name,
        run_id,
        tags={SWEEP_TAG: sweep_key, TASK_TAG: config.task, FAMILY_TAG: final.family},
    )
    with registry.withdrawn_on_failure(config.name, version):
        registry.record_manifest(config.name, version)
        registry.set_alias(config.name, CHALLENGER, version)
        aliases = [CHALLENGER]
        if should_promote(config, split, final, registry):
            registry.set_alias(config.name, CHAMPION, version)
            aliases.append(CHAMPION)
    return Registration(config.name, version, aliases)


def monitoring_reference(config: TrainConfig, split: Split, final: FinalModel) -> Profile:
    """The profile serving compares live traffic with: the training rows, the predictions on
    the held-out split, and the held-out metrics."""
    return reference_profile(
        split.X_train,
        final.estimator.predict(split.X_test),
        config.task,
        final.test_metrics,
        getattr(final.estimator, "classes_", None),
    )


def should_promote(
    config: TrainConfig, split: Split, final: FinalModel, registry: Registry
) -> bool:
    """Apply `registration.promote`: the champion moves only if the new version beats it on
    this run's held-out test split by at least `min_improvement`."""
    policy = config.registration.promote
    if policy != "if_better":
        return policy == "always"
    if registry.alias_version(config.name, CHAMPION) is None:
        return True
    new_score = final.test_metrics[config.metric]
    try:
        champion = registry.load(config.name, CHAMPION)
        old_score = holdout_metrics(champion.model, split.X_test, split.y_test, config.task)[
            config.metric
        ]
    except (RegistryError, integrity.IntegrityError, ValueError, KeyError) as exc:
        print(
            f"[rayline] the current champion cannot be scored on this test split ({exc}); "
            "keeping it. Promote by hand with POST /v1/models/{name}/aliases/champion.",
            file=sys.stderr,
            flush=True,
        )
        return False
    better = new_score >= old_score + config.registration.min_improvement
    emit(
        "promotion",
        metric=config.metric,
        score=new_score,
        champion_score=old_score,
        promoted=better,
    )
    print(
        f"[rayline] champion {config.metric}={old_score:.4f}, new {new_score:.4f}: "
        f"{'promoting' if better else 'keeping the champion'}",
        flush=True,
    )
    return better


def write_config_artifact(config: TrainConfig, run_id: str, source_text: str | None) -> None:
    """The config as given (or as validated) next to the run."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train_config.yaml"
        if source_text is None:
            import yaml

            source_text = yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
        path.write_text(source_text)
        MlflowClient().log_artifact(run_id, str(path))
