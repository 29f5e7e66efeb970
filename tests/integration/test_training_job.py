"""The training Ray Job end to end: real Ray cluster, real MLflow server and registry."""

from __future__ import annotations

import json
import re
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow import MlflowClient

from rayline.integrity import MANIFEST_TAG
from rayline.registry import NODE_TAG, SWEEP_TAG
from rayline.training import MODEL_REQUIREMENTS
from tests.conftest import write_config
from tests.stack import BIN, Stack
from tests.waiting import wait_until

pytestmark = pytest.mark.integration


def _client(stack: Stack) -> MlflowClient:
    return MlflowClient(tracking_uri=stack.settings.tracking_uri)


def test_job_registers_a_verified_version_with_aliases(
    stack: Stack, iris_model: dict[str, Any]
) -> None:
    assert iris_model["model"] == "iris_it"
    assert set(iris_model["aliases"]) == {"challenger", "champion"}
    assert iris_model["test_metrics"]["accuracy"] >= 0.93

    client = _client(stack)
    version = client.get_model_version("iris_it", iris_model["version"])
    assert json.loads(version.tags[MANIFEST_TAG])  # sha-256 per file, recorded at registration
    # What loading the model needs, pinned to the training versions (not inferred by MLflow).
    folder = mlflow.artifacts.download_artifacts(
        f"models:/iris_it/{version.version}", tracking_uri=stack.settings.tracking_uri
    )
    requirements = (Path(folder) / "requirements.txt").read_text().split()
    assert requirements == [f"{n}=={installed_version(n)}" for n in MODEL_REQUIREMENTS]

    parent = client.get_run(iris_model["run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.tags[SWEEP_TAG] == version.tags[SWEEP_TAG]
    assert "dataset_digest" in parent.data.params
    assert parent.data.tags["rayline.ray_job_id"].startswith("raysubmit_")
    assert parent.data.metrics["test_accuracy"] == pytest.approx(
        iris_model["test_metrics"]["accuracy"]
    )
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert "train_config.yaml" in artifacts
    assert {"plots/confusion_matrix.png", "plots/feature_importance.png"} <= plots

    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    assert len(children) == 4
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.params["family"] in {"linear", "knn"}
        assert 0.5 <= child.data.metrics["cv_accuracy_mean"] <= 1.0
        assert "cv_accuracy_std" in child.data.metrics and "fit_time_s" in child.data.metrics
        assert len(child.data.tags[NODE_TAG]) == 56  # the Ray node the trial ran on (hex id)


def test_rerun_with_same_config_and_data_registers_nothing_new(
    stack: Stack, iris_model: dict[str, Any]
) -> None:
    client = _client(stack)
    before = sorted(v.version for v in client.search_model_versions("name='iris_it'"))
    result = stack.train(stack.configs / "iris_it.yaml")
    assert "already registered" in result.stdout
    after = sorted(v.version for v in client.search_model_versions("name='iris_it'"))
    assert after == before and iris_model["version"] in after


def test_job_prints_progress_and_the_registration(stack: Stack) -> None:
    path = write_config(
        stack.configs,
        "diabetes_it",
        dataset={"source": "diabetes"},
        estimators={"linear": {}, "gradient_boosting": {"max_iter": [100]}},
        search={"num_samples": 4, "metric": "r2"},
    )
    out = stack.train(path).stdout
    assert "[rayline] trial 4/4" in out
    assert "registered diabetes_it version 1" in out
    result = json.loads(
        next(line for line in out.splitlines() if line.startswith('@rayline {"event": "result"'))[
            9:
        ]
    )
    assert result["test_metrics"]["r2"] >= 0.40


def test_failing_sweep_leaves_run_failed_and_registers_nothing(stack: Stack) -> None:
    # LogisticRegression refuses a negative C at fit time: every trial fails mid-sweep.
    path = write_config(
        stack.configs,
        "broken_it",
        estimators={"linear": {"C": [-1.0, -2.0]}},
        search={"algorithm": "grid"},
    )
    result = stack.train(path, check=False)
    assert result.returncode != 0
    client = _client(stack)
    runs = client.search_runs(
        [client.get_experiment_by_name("rayline-tests").experiment_id],
        filter_string="tags.`rayline.config` = 'broken_it'",
    )
    assert [r.info.status for r in runs] == ["FAILED"]
    assert client.search_model_versions("name='broken_it'") == []


def test_stopped_job_leaves_run_failed_and_registers_nothing(stack: Stack) -> None:
    path = write_config(
        stack.configs,
        "stopped_it",
        dataset={"source": "digits"},
        estimators={
            "svm": {"C": [1.0, 3.0, 10.0, 30.0]},
            "random_forest": {"n_estimators": [300, 400]},
        },
        search={"algorithm": "grid"},
        split={"cv_folds": 5},
    )
    submitted = stack.run(
        str(BIN / "ray"),
        "job",
        "submit",
        "--no-wait",
        "--",
        "python",
        "-m",
        "jobs.train",
        str(path),
    )
    job_id = re.findall(r"raysubmit_[A-Za-z0-9]+", submitted.stdout + submitted.stderr)[0]

    def started_run() -> str | None:
        logs = stack.run(str(BIN / "ray"), "job", "logs", job_id).stdout
        return logs if '"event": "run"' in logs else None

    logs = wait_until(started_run, 240, "the job to start its MLflow run")
    run_id = json.loads(
        next(line for line in logs.splitlines() if line.startswith('@rayline {"event": "run"'))[9:]
    )["run_id"]
    stack.run(str(BIN / "ray"), "job", "stop", job_id)
    client = _client(stack)
    wait_until(lambda: client.get_run(run_id).info.status != "RUNNING", 60, "the run to be marked")
    assert client.get_run(run_id).info.status == "FAILED"
    assert client.search_model_versions("name='stopped_it'") == []
