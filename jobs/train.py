"""Ray Job: load a dataset with Ray Data, sweep with Ray Tune, track in MLflow, register.

    ray job submit --working-dir . -- python -m jobs.train configs/train/breast_cancer.yaml

CONFIG is a path or the name of a shipped config (`iris`); `--spec JSON` gives the config inline
(the web UI does that). A failed or stopped job leaves its MLflow run FAILED and registers nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import mlflow
import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler

from jobs.trial import trial
from rayline import datasets
from rayline.config import ConfigError, TrainConfig, load_config, parse_config, resolve_config_path
from rayline.datasets import DatasetError
from rayline.priority import lower_priority
from rayline.ray_api import job_metadata, submission_id
from rayline.registry import Registry
from rayline.scoring import CrossValidation
from rayline.search import Candidate, candidates
from rayline.settings import Settings, get_settings
from rayline.training import (
    SCHEDULE_METADATA,
    ArtifactStoreFull,
    TrialResult,
    choose_final,
    emit,
    full_store_error,
    local_artifact_store,
    log_and_register,
    log_plots,
    log_trial,
    write_config_artifact,
)

STOPPING = threading.Event()


def _now() -> float:
    """Epoch seconds on events, so a reader of the log can time the sweep."""
    return round(time.time(), 3)


class Progress(tune.Callback):
    """Driver-side: log each finished trial to MLflow as a nested run and print progress."""

    def __init__(
        self, total: int, metric: str, folds: int, experiment_id: str, parent_run_id: str
    ) -> None:
        self.total = total
        self.metric = metric
        self.folds = folds
        self.experiment_id = experiment_id
        self.parent_run_id = parent_run_id
        self.results: list[TrialResult] = []
        self.failed = 0
        self.client = mlflow.MlflowClient()
        # MLflow calls happen on a thread of their own: Tune runs callbacks on its control loop,
        # and three HTTP calls per trial there would hold up starting the next trial.
        self._to_log: queue.Queue[TrialResult | None] = queue.Queue()
        self._log_error: Exception | None = None
        self._logger: threading.Thread | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Tune pickles its callbacks with the experiment; the queue and thread stay here."""
        state = dict(self.__dict__)
        state.update(_to_log=None, _logger=None)
        return state

    def _log(self, result: TrialResult) -> None:
        if self._logger is None:
            self._logger = threading.Thread(
                target=self._log_trials, name="mlflow-trials", daemon=True
            )
            self._logger.start()
        self._to_log.put(result)

    def _log_trials(self) -> None:
        while (result := self._to_log.get()) is not None:
            if self._log_error is not None:
                continue
            try:
                log_trial(self.client, self.experiment_id, self.parent_run_id, result, self.metric)
            except Exception as exc:  # re-raised by flush() in the sweep's thread
                self._log_error = exc

    def flush(self) -> None:
        """Wait until every finished trial is logged; raise what logging raised, if anything."""
        if self._logger is not None:
            self._to_log.put(None)
            self._logger.join()
            self._logger = None
        if self._log_error is not None:
            raise self._log_error

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        candidate = Candidate(**trial.config["candidate"])
        self.failed += 1
        print(
            f"[rayline] trial {candidate.index} {candidate.family} {candidate.params} failed; "
            f"see its error in the Ray dashboard (job logs)",
            flush=True,
        )
        emit(
            "trial",
            trial=candidate.index,
            family=candidate.family,
            params=candidate.params,
            score=None,
            score_std=None,
            fit_time_s=None,
            status="error",
        )
        best = max((r.score for r in self.results if r.completed), default=None)
        emit(
            "progress",
            trials_done=len(self.results) + self.failed,
            trials_total=self.total,
            best_score=best,
            metric=self.metric,
        )

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        last = trial.last_result or {}
        if "score" not in last:
            return
        result = TrialResult(
            candidate=Candidate(**trial.config["candidate"]),
            score=float(last["score"]),
            score_std=float(last["score_std"]),
            fit_time_s=float(last["fit_time_s"]),
            folds_done=int(last["folds_done"]),
            completed=int(last["folds_done"]) == self.folds,
            node_id=str(last.get("node_id", "")),
        )
        self.results.append(result)
        self._log(result)
        done = len(self.results) + self.failed
        best = max((r.score for r in self.results if r.completed), default=None)
        best_text = f"{best:.4f}" if best is not None else "n/a"
        state = "" if result.completed else f" (stopped early after {result.folds_done} folds)"
        print(
            f"[rayline] trial {done}/{self.total} {result.candidate.family} "
            f"{self.metric}={result.score:.4f}{state} · best {best_text}",
            flush=True,
        )
        emit("trial", **result.as_event(), t=_now())
        emit(
            "progress",
            trials_done=done,
            trials_total=self.total,
            best_score=best,
            metric=self.metric,
        )


def sweep(
    config: TrainConfig,
    split: datasets.Split,
    settings: Settings,
    experiment_id: str,
    parent_run_id: str,
) -> list[TrialResult]:
    found = candidates(config)
    total = len(found)
    print(
        f"[rayline] sweeping {total} configurations of "
        f"{', '.join(config.estimators)} with {config.split.cv_folds}-fold CV",
        flush=True,
    )
    started = _now()
    emit(
        "progress",
        trials_done=0,
        trials_total=total,
        best_score=None,
        metric=config.metric,
        t=started,
    )
    progress = Progress(total, config.metric, config.split.cv_folds, experiment_id, parent_run_id)
    # with_parameters puts the training data in the object store once for all trials.
    trainable = tune.with_parameters(
        trial,
        X=split.X_train,
        y=split.y_train,
        cv=CrossValidation(config.task, config.metric, config.split.cv_folds, config.split.seed),
        every_fold=config.search.early_stopping,
        niceness=settings.training_niceness,
    )
    # Tune's own per-trial result files (CSV, JSON, TensorBoard): MLflow has every trial, and
    # writing them held up the control loop between trials. A user's own setting wins.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    scheduler = None
    if config.search.early_stopping:
        scheduler = ASHAScheduler(
            time_attr="training_iteration",
            max_t=config.split.cv_folds,
            grace_period=1,
            reduction_factor=2,
        )
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": config.search.cpus_per_trial}),
        param_space={"candidate": tune.grid_search([c.as_dict() for c in found])},
        tune_config=tune.TuneConfig(
            metric="score",
            mode="max",
            scheduler=scheduler,
            reuse_actors=True,
            max_concurrent_trials=config.search.max_concurrent_trials,
        ),
        run_config=tune.RunConfig(
            name=f"{config.name}-{parent_run_id[:8]}",
            storage_path=str(settings.home / "tune"),
            callbacks=[progress],
            verbose=0,
        ),
    )
    tuner.fit()
    progress.flush()  # every trial is in MLflow before the final model is chosen
    ended = _now()
    # Wall-clock marks (epoch seconds) let bench/ time the sweep and the time to a given score.
    emit("sweep", trials=total, t_start=started, t_end=ended, seconds=round(ended - started, 3))
    return progress.results


def run(config: TrainConfig, source_text: str | None, settings: Settings, force: bool) -> int:
    """The whole job; returns the process exit code."""
    lower_priority(settings.training_niceness)  # before Ray's threads start
    mlflow.set_tracking_uri(settings.tracking_uri)
    registry = Registry(settings.tracking_uri)
    ray.init(log_to_driver=False)
    emit("step", name="load")
    frame = datasets.load(config.dataset, settings)
    data_digest = datasets.digest(frame)
    sweep_key = f"{config.digest()[:32]}-{data_digest[:32]}"
    existing = None if force else registry.find_sweep_version(config.name, sweep_key)
    if existing is not None:
        print(
            f"[rayline] {config.name} version {existing.version} was already registered from "
            f"this config and data; nothing to do (use --force to train again)",
            flush=True,
        )
        emit(
            "result",
            model=config.name,
            version=str(existing.version),
            aliases=list(existing.aliases),
            test_metrics={},
            reused=True,
        )
        return 0
    split = datasets.split(frame, config.dataset, config.split)
    experiment = mlflow.set_experiment(settings.experiment)
    started = time.perf_counter()
    with mlflow.start_run(run_name=f"{config.name}-sweep") as parent:
        run_id = parent.info.run_id
        emit(
            "run",
            run_id=run_id,
            experiment_id=experiment.experiment_id,
            url=f"{settings.tracking_uri}/#/experiments/{experiment.experiment_id}/runs/{run_id}",
        )
        mlflow.set_tags(
            {
                "rayline.config": config.name,
                "rayline.sweep_key": sweep_key,
                "rayline.ray_job_id": submission_id(),
                **schedule_tags(),
            }
        )
        mlflow.log_params(
            {
                "dataset": config.dataset.source,
                "target": config.dataset.target,
                "task": config.task,
                "metric": config.metric,
                "rows": len(frame),
                "features": frame.shape[1] - 1,
                "dataset_digest": data_digest,
                "algorithm": config.search.algorithm,
                "cv_folds": config.split.cv_folds,
                "test_size": config.split.test_size,
                "families": ",".join(config.estimators),
            }
        )
        write_config_artifact(config, run_id, source_text)
        emit("step", name="train")
        results = sweep(config, split, settings, experiment.experiment_id, run_id)
        if STOPPING.is_set():  # Tune may absorb the interrupt; never register after a stop
            raise Stopped(143)
        emit("step", name="evaluate")
        final = choose_final(config, split, results)
        mlflow.log_metrics(
            {
                f"cv_{config.metric}": final.cv_score,
                **{f"test_{k}": v for k, v in final.test_metrics.items()},
                "sweep_seconds": time.perf_counter() - started,
            }
        )
        mlflow.set_tag("rayline.family", final.family)
        log_plots(final.estimator, split, config.task, run_id)
        emit("step", name="register")
        try:
            registration = log_and_register(
                config, split, final, registry, run_id, sweep_key, force
            )
        except Exception as exc:
            # The MLflow server that hit a full disk only answers 500 or drops the connection.
            store = local_artifact_store(settings.artifacts_destination)
            if (full := full_store_error(store, exc)) is not None:
                raise full from exc
            raise
    metrics = ", ".join(f"{k}={v:.4f}" for k, v in final.test_metrics.items())
    print(
        f"[rayline] registered {registration.name} version {registration.version} "
        f"({final.family}) aliases: {', '.join(registration.aliases)}",
        flush=True,
    )
    print(f"[rayline] test metrics: {metrics}", flush=True)
    emit(
        "result",
        model=registration.name,
        version=registration.version,
        aliases=registration.aliases,
        test_metrics=final.test_metrics,
        metric=config.metric,
        score=final.test_metrics.get(config.metric),
        run_id=run_id,
    )
    return 0


class Stopped(SystemExit):
    """The job was asked to stop (SIGTERM from `ray job stop`)."""


def schedule_tags() -> dict[str, str]:
    """MLflow tags tracing a scheduled run back to its schedule, tick and trigger."""
    metadata = job_metadata()
    return {tag: metadata[key] for key, tag in SCHEDULE_METADATA.items() if key in metadata}


def _stop_on_sigterm() -> None:
    """`ray job stop` sends SIGTERM and SIGKILLs 3 s later: mark the active MLflow run FAILED
    at once, then unwind so nothing is registered."""

    def handler(signum: int, frame: Any) -> None:
        STOPPING.set()
        run = mlflow.active_run()
        if run is not None:
            mlflow.MlflowClient().set_terminated(run.info.run_id, "FAILED")
        raise Stopped(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jobs.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", nargs="?", help="config path or shipped config name")
    parser.add_argument("--spec", help="the config as inline JSON instead of a file")
    parser.add_argument(
        "--force",
        action="store_true",
        help="train and register even if this config and data were registered",
    )
    args = parser.parse_args(argv)
    try:
        if args.spec:
            config, source_text = parse_config(json.loads(args.spec), "--spec"), None
        elif args.config:
            path = resolve_config_path(args.config)
            config, source_text = load_config(path), Path(path).read_text()
        else:
            parser.error("give a CONFIG path/name or --spec")
        settings = get_settings()
    except (ConfigError, json.JSONDecodeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _stop_on_sigterm()
    try:
        return run(config, source_text, settings, args.force)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ArtifactStoreFull as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
