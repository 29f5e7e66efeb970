"""The `mlflow_home` stack group's fixture and helper (tests/conftest.py STACK_GROUPS): an
MLflow server of its own (the `backup-test` profile, no Ray) in a home of its own, for the
tests that wipe its files or fill its disk, and registration as a training job does it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from rayline import datasets
from rayline.config import parse_config
from rayline.estimators import make_pipeline_for
from rayline.registry import Registry
from rayline.scoring import holdout_metrics
from rayline.search import Candidate
from rayline.settings import Settings
from rayline.stack.harness import LocalStack
from rayline.stack.profiles import BACKUP_TEST
from rayline.training import FinalModel, TrialResult, log_and_register, log_trial
from tests.stack import EXPERIMENT


@pytest.fixture
def mlflow_home(tmp_path: Path) -> Iterator[LocalStack]:
    """The `backup-test` profile's settings in a home of its own, in this process's
    environment (MLflow's client reads MLFLOW_TRACKING_URI from it); MLflow is started by the
    test (`up_mlflow`), stopped here."""
    running = LocalStack.from_profile(BACKUP_TEST, tmp_path / "home", EXPERIMENT)
    BACKUP_TEST.wait_free()
    running.enter_environment()
    try:
        yield running
    finally:
        running.down()


def train_and_register(settings: Settings, name: str, source: str, family: str) -> str:
    """Fit one small pipeline and log, register and alias it as a training job does (the
    sweep aside): a parent run with params and metrics, one nested trial run, the model
    version with its integrity manifest. Returns the version."""
    config = parse_config(
        {
            "name": name,
            "dataset": {"source": source},
            "split": {"cv_folds": 3},
            "estimators": {family: {}},
            "ensemble": {"enabled": False},
            "registration": {"promote": "never"},
        },
        "tests/integration",
    )
    frame = datasets.load(config.dataset, settings)
    split = datasets.split(frame, config.dataset, config.split)
    estimator = make_pipeline_for(family, config.task, {}, config.split.seed)
    estimator.fit(split.X_train, split.y_train)
    metrics = holdout_metrics(estimator, split.X_test, split.y_test, config.task)
    final = FinalModel(estimator, family, metrics[config.metric], metrics)
    registry = Registry(settings.tracking_uri)
    experiment = mlflow.set_experiment(settings.experiment)
    with mlflow.start_run(run_name=f"{name}-{family}") as run:
        mlflow.log_params({"dataset": source, "family": family, "rows": len(frame)})
        mlflow.log_metrics({f"test_{k}": v for k, v in metrics.items()})
        trial = TrialResult(Candidate(0, family, {}), metrics[config.metric], 0.0, 0.01, 3)
        log_trial(registry.client, experiment.experiment_id, run.info.run_id, trial, config.metric)
        sweep_key = f"{name}-{family}"
        run_id = run.info.run_id
        registration = log_and_register(config, split, final, registry, run_id, sweep_key)
    return registration.version
