"""Production stores by settings alone: MLflow on a real PostgreSQL with artifacts in a real
S3-compatible server (SeaweedFS, SigV4 auth), `s3://` datasets, a new-data schedule whose state
lives in PostgreSQL, no credential anywhere it should not be, and the API keys of the
environment (production mode) used by a benchmark job."""

from __future__ import annotations

import io
import subprocess
from typing import Any

import pytest

from rayline.datasets import load_builtin
from rayline.stack import ray_temp_dir
from rayline.stack.harness import BIN
from rayline.training import result_event
from tests.conftest import write_config
from tests.integration.production.cluster import BUCKET, SETOSA, VIRGINICA, Production
from tests.waiting import wait_until

pytestmark = pytest.mark.integration


def test_up_creates_the_bucket_and_keeps_nothing_local(production: Production) -> None:
    assert BUCKET not in production.buckets_before_up
    assert BUCKET in [b["Name"] for b in production.s3.client().list_buckets()["Buckets"]]
    home = production.stack.settings.home
    assert not (home / "mlflow.db").exists() and not (home / "artifacts").exists()
    # MLflow created its schema in the PostgreSQL database it was pointed at.
    assert ("Default",) in production.postgres.query(
        production.database, "SELECT name FROM experiments"
    )
    assert production.postgres.query(
        production.database, "SELECT count(*) FROM alembic_version"
    ) == [(1,)]


def test_train_register_serve_with_postgres_and_s3(
    production: Production, iris_prod: dict[str, Any]
) -> None:
    assert iris_prod["model"] == "iris_prod" and iris_prod["version"] == "1"
    assert "champion" in iris_prod["aliases"]

    status, body = production.stack.api(
        "POST", "/v1/models/iris_prod/predict", {"instances": [SETOSA, VIRGINICA]}
    )
    assert status == 200, body
    assert body["predictions"] == [0, 2] and body["version"] == "1"

    # The runs are rows in PostgreSQL: the sweep's parent run and one nested run per trial.
    run_id = iris_prod["run_id"]
    assert production.postgres.query(
        production.database, "SELECT status FROM runs WHERE run_uuid = %s", run_id
    ) == [("FINISHED",)]
    nested = production.postgres.query(
        production.database,
        "SELECT count(*) FROM tags WHERE key = 'mlflow.parentRunId' AND value = %s",
        run_id,
    )
    assert nested == [(4,)]
    versions = production.postgres.query(
        production.database,
        "SELECT version, storage_location FROM model_versions WHERE name = 'iris_prod'",
    )
    assert [v for v, _ in versions] == [1]

    # The registered model's files are objects in the bucket, where the registry says.
    location = versions[0][1]
    assert location.startswith("mlflow-artifacts:/"), location
    prefix = "mlflow/" + location.removeprefix("mlflow-artifacts:/").strip("/") + "/"
    keys = production.s3.keys(BUCKET, prefix)
    assert prefix + "MLmodel" in keys, keys
    assert any(key.endswith(".skops") for key in keys), keys
    # Plots and the config artifact of the sweep run are there too.
    assert any(run_id in key for key in production.s3.keys(BUCKET, "mlflow/")), "no run artifacts"


def test_training_reads_csv_and_parquet_datasets_from_s3(production: Production) -> None:
    frame = load_builtin("iris")
    s3 = production.s3.client()
    s3.put_object(Bucket=BUCKET, Key="datasets/iris.csv", Body=frame.to_csv(index=False).encode())
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    s3.put_object(Bucket=BUCKET, Key="datasets/iris.parquet", Body=buffer.getvalue())
    stack = production.stack

    csv_uri = f"s3://{BUCKET}/datasets/iris.csv"
    path = write_config(
        stack.configs,
        "iris_s3",
        dataset={"source": csv_uri, "task": "classification", "target": "target"},
        search={"num_samples": 2},
        estimators={"linear": {}},
        ensemble={"enabled": False},
    )
    result = result_event(stack.train(path).stdout)
    assert result["model"] == "iris_s3" and result["version"] == "1"
    params = production.client().get_run(result["run_id"]).data.params
    assert params["dataset"] == csv_uri and params["rows"] == "150"

    # Parquet goes through the same reader, and a missing object is an error naming it: one
    # short Ray job, whose settings (endpoint, keys) come from the Ray processes' environment.
    script = f"""
import ray
from rayline.config import DatasetConfig
from rayline.datasets import DatasetError, load
from rayline.settings import get_settings
ray.init()
frame = load(DatasetConfig(source="s3://{BUCKET}/datasets/iris.parquet", task="classification"),
             get_settings())
print("parquet rows", len(frame), "columns", len(frame.columns))
try:
    load(DatasetConfig(source="s3://{BUCKET}/datasets/nope.csv", task="classification"),
         get_settings())
except DatasetError as exc:
    print("missing:", exc)
"""
    out = stack.run(
        str(BIN / "ray"), "job", "submit", "--address", stack.settings.ray_dashboard_url,
        "--", "python", "-c", script,
    ).stdout  # fmt: skip
    assert "parquet rows 150 columns 5" in out
    assert f"missing: dataset.source s3://{BUCKET}/datasets/nope.csv" in out


def test_no_credential_in_mlflow_params_tags_or_logs(
    production: Production, iris_prod: dict[str, Any]
) -> None:
    """Runs last in this module, so it covers every job above (sweeps and S3 dataset reads)."""
    secret = production.s3.secret_key
    client = production.client()
    experiment = client.get_experiment_by_name("rayline-tests")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) >= 5  # the sweep and its trials
    for run in runs:
        for value in [*run.data.params.values(), *run.data.tags.values()]:
            assert secret not in value, f"run {run.info.run_id} carries the S3 secret"
    for version in client.search_model_versions("name='iris_prod'"):
        assert all(secret not in value for value in version.tags.values())

    # Nowhere in the whole MLflow database either (registry, inputs, traces, ...).
    dump = subprocess.run(
        [
            "pg_dump",
            "-h",
            "127.0.0.1",
            "-p",
            str(production.postgres.port),
            "-U",
            "postgres",
            "--data-only",
            production.database,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert "iris_prod" in dump and secret not in dump

    # Nor in the stack's logs, Ray's session logs (jobs, replicas, raylet) or the job output.
    settings = production.stack.settings
    for folder in (settings.logs_dir, ray_temp_dir(settings) / "session_latest" / "logs"):
        files = [p for p in folder.rglob("*") if p.is_file()]
        assert files, f"no logs in {folder}"
        for path in files:
            assert secret.encode() not in path.read_bytes(), f"the S3 secret is in {path}"


def test_wrong_s3_credentials_are_refused_by_the_server(production: Production) -> None:
    """The S3 server really checks signatures, so the passing tests above used the keys."""
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError):
        production.s3.client(secret_key="not-the-secret").list_objects_v2(Bucket=BUCKET)


def test_new_data_on_s3_fires_one_run_and_the_state_lives_in_postgres(
    production: Production, iris_prod: dict[str, Any]
) -> None:
    """An `on_new_data` schedule on an `s3://` object: the object as it is when the schedule
    starts is its baseline; uploading a new one fires exactly one run."""
    s3, stack = production.s3.client(), production.stack
    frame = load_builtin("iris")
    key = "incoming/iris.csv"
    s3.put_object(Bucket=BUCKET, Key=key, Body=frame.head(120).to_csv(index=False).encode())
    name = "iris-s3-new-data"
    spec = {
        "name": "iris_s3_sched",
        "dataset": {"source": f"s3://{BUCKET}/{key}", "task": "classification"},
        "split": {"cv_folds": 2},
        "search": {"algorithm": "random", "num_samples": 2},
        "estimators": {"linear": {}},
    }
    trigger = {"check_every_s": 1, "settle_s": 2}
    status, created = stack.api(
        "POST", "/v1/schedules", {"name": name, "spec": spec, "on_new_data": trigger}
    )
    assert status == 201, created
    assert created["description"].startswith("when the training data changes")

    def baseline() -> list[tuple[Any, ...]]:
        sql = "SELECT fingerprint FROM schedules WHERE name = %s AND fingerprint IS NOT NULL"
        return production.postgres.query(production.state_database, sql, name)

    wait_until(baseline, 60, "the scheduler to record the object's fingerprint")
    assert stack.http("GET", f"/v1/schedules/{name}/runs")[1]["runs"] == []
    s3.put_object(Bucket=BUCKET, Key=key, Body=frame.to_csv(index=False).encode())

    def finished() -> list[dict[str, Any]]:
        runs = stack.http("GET", f"/v1/schedules/{name}/runs")[1]["runs"]
        return [r for r in runs if r["status"] not in ("pending", "running")]

    (run,) = wait_until(finished, 180, "the new-data run to finish")
    assert run["trigger"] == "new_data" and run["outcome"] == "promoted", run
    # The scheduler looked at the unchanged object every second while the job ran: no new run.
    assert len(stack.http("GET", f"/v1/schedules/{name}/runs")[1]["runs"]) == 1
    rows = production.postgres.query(
        production.state_database,
        "SELECT outcome, model FROM schedule_runs WHERE schedule = %s",
        name,
    )
    assert rows == [("promoted", "iris_s3_sched")]
    stack.http("DELETE", f"/v1/schedules/{name}")


def test_a_serving_benchmark_calls_the_ingress_with_the_keys_of_the_environment(
    production: Production, iris_prod: dict[str, Any]
) -> None:
    """`POST /v1/benchmarks` starts a Ray Job that load-tests the ingress as admin: in production
    mode its key comes from RAYLINE_API_KEYS, there is no keys file."""
    assert not production.stack.settings.credentials_file.exists()
    body = {"kind": "serving", "model": "iris_prod", "duration_s": 2, "concurrency": 2}
    status, submitted = production.stack.api("POST", "/v1/benchmarks", body)
    assert status == 202, submitted
    job_id = submitted["job_id"]

    def ended() -> str | None:
        status, job = production.stack.api("GET", f"/v1/jobs/{job_id}")
        assert status == 200, job
        return None if job["status"] in ("PENDING", "RUNNING") else str(job["status"])

    ending = wait_until(ended, 240, "the benchmark job to end")
    logs = production.stack.api("GET", f"/v1/jobs/{job_id}/logs")[1].get("logs", "")
    assert ending == "SUCCEEDED", logs
    job = job_id.removeprefix("raysubmit_")

    def result() -> list[dict[str, Any]]:
        status, listed = production.stack.api("GET", "/v1/benchmarks")
        assert status == 200, listed
        return [r for r in listed["results"] if r["id"].endswith(job)]

    (found,) = wait_until(result, 30, f"the result the job wrote: {logs[-600:]}")
    assert found["kind"] == "serving" and found["settings"]["model"] == "iris_prod"
    summary = found["summary"]
    assert summary["requests"] > 0 and summary["errors"] == 0, found
    assert found["raw"]["statuses"] == {"200": summary["requests"]}, found
