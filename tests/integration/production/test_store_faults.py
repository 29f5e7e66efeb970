"""Store faults on the production cluster (issue #17): its PostgreSQL restarted while a training
job registers, its S3 store down while an alias moves. Each fault is real: the cluster's own
PostgreSQL server stopped and started (`pg_ctl`), SeaweedFS SIGKILLed and started again."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from mlflow.entities.model_registry import ModelVersion

from rayline import integrity
from rayline.training import parse_events
from tests.conftest import write_config
from tests.integration.production.cluster import SETOSA, Production, deploy
from tests.stack import BIN
from tests.waiting import NotYet, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.disruptive]

PG_OUTAGE_S = 10
"""How long PostgreSQL stays down: longer than one MLflow request's first retries."""


def versions(production: Production, name: str) -> list[ModelVersion]:
    """Every version of `name`, each read whole (a search leaves out the aliases)."""
    client = production.client()
    found = client.search_model_versions(f"name='{name}'")
    return [client.get_model_version(name, v.version) for v in found]


@contextlib.contextmanager
def postgres_down(production: Production) -> Iterator[None]:
    production.postgres.stop()
    try:
        yield
    finally:
        production.postgres.start()


def test_a_postgresql_restart_while_a_job_registers_leaves_no_half_registered_version(
    production: Production, iris_prod: dict[str, Any]
) -> None:
    """The job rides out the restart (MLflow's client retries) or fails cleanly: never a
    version without its manifest and alias, never a failed job with a version left behind."""
    name = "iris_pg_restart"
    path = write_config(
        production.stack.configs,
        name,
        estimators={"linear": {}},
        search={"num_samples": 2},
        split={"cv_folds": 2},
        ensemble={"enabled": False},
    )
    submission = f"pg-restart-{uuid.uuid4().hex[:8]}"
    production.stack.run(
        str(BIN / "ray"), "job", "submit", "--no-wait", "--submission-id", submission,
        "--address", production.stack.settings.ray_dashboard_url,
        "--", "python", "-m", "jobs.train", str(path),
    )  # fmt: skip
    jobs = production.stack.jobs()

    def registering() -> bool:
        info = jobs.get_job_info(submission)
        if info.status.is_terminal():
            raise AssertionError(f"the job ended before registering: {info.status} {info}")
        step = (parse_events(jobs.get_job_logs(submission)).get("step") or {}).get("name")
        if step != "register":
            raise NotYet(f"step {step}")
        return True

    wait_until(registering, 300, "the job to reach its register step", interval=0.2)
    with postgres_down(production):
        # The fault lands inside the registration: the job has no result yet.
        assert parse_events(jobs.get_job_logs(submission))["result"] is None
        time.sleep(PG_OUTAGE_S)  # the fault's length, not a wait for a condition

    def ended() -> Any:
        info = jobs.get_job_info(submission)
        if not info.status.is_terminal():
            raise NotYet(info.status)
        return info

    info = wait_until(ended, 400, "the job to end after the restart", ignoring=(RuntimeError,))
    logs = jobs.get_job_logs(submission)
    left = versions(production, name)
    for version in left:  # whatever is registered is whole: manifest and alias
        assert integrity.MANIFEST_TAG in version.tags, (version, logs[-3000:])
        assert "challenger" in version.aliases, (version, logs[-3000:])
    if str(info.status) == "SUCCEEDED":
        result = parse_events(logs)["result"]
        assert [v.version for v in left] == [result["version"]], (left, result)
    else:  # a failed job registered nothing
        assert left == [], (info, left, logs[-3000:])
    # The cluster works on: its scheduler, registry and serving reach PostgreSQL again.
    status, body = production.stack.api("GET", "/v1/models")
    assert status == 200, body
    status, body, _ = production.stack.http("GET", "/v1/schedules", key="predict")
    assert status == 200, body
    assert production.predict()[0] == 200


def test_an_s3_outage_while_an_alias_moves_keeps_the_old_version_serving(
    production: Production, iris_prod: dict[str, Any]
) -> None:
    """The alias moves in the registry (PostgreSQL) while the new version's files (S3) cannot
    be read: every replica keeps serving the old version, and switches once S3 is back."""
    name = "iris_s3_outage"
    client = production.client()
    source = client.get_model_version("iris_prod", iris_prod["version"])
    logged_model = source.source.removeprefix("models:/")  # MLflow 3: the LoggedModel's id
    client.create_registered_model(name)
    made = [
        client.create_model_version(
            name, source.source, run_id=source.run_id, tags=source.tags, model_id=logged_model
        )
        for _ in range(2)
    ]
    assert [v.version for v in made] == ["1", "2"]
    status, body = production.stack.api(
        "POST", f"/v1/models/{name}/aliases/champion", {"version": "1"}
    )
    assert status == 200, body

    def predict() -> tuple[int, Any]:
        return production.stack.api(
            "POST", f"/v1/models/{name}/predict", {"instances": [SETOSA]}, timeout=15
        )

    # Served as serve_config.yaml declares a model: every Ingress replica loads version 1
    # before it takes requests (on demand, a replica no request reached would load it during
    # the outage and fail).
    deploy(production, ["iris_prod", name])
    for _ in range(4):
        status, body = predict()
        assert status == 200 and body["version"] == "1", body

    production.s3.kill()
    try:
        status, body = production.stack.api(
            "POST", f"/v1/models/{name}/aliases/champion", {"version": "2"}
        )
        assert status == 200 and body["previous_version"] == "1", body

        def kept_after_a_failed_swap() -> bool:
            """Six answers of /model-info (both replicas, three times each: HAProxy hands
            requests that do not overlap to the replicas in turn) all still on version 1, each
            with the failed load of version 2 as its last error."""
            path = f"/model-info?model={name}@champion"
            models = [production.stack.api("GET", path)[1]["models"][0] for _ in range(6)]
            if any(m.get("version") != "1" for m in models):
                raise AssertionError(f"a replica left version 1 during the outage: {models}")
            if not all(m.get("last_error") for m in models):
                raise NotYet(models)
            return True

        wait_until(kept_after_a_failed_swap, 120, "every replica to try version 2 and keep 1")
        answers = [predict() for _ in range(10)]
        assert all(s == 200 and b["version"] == "1" for s, b in answers), answers
    finally:
        production.s3.start()

    def switched() -> bool:
        answers = [predict() for _ in range(6)]  # both replicas, three times each
        if any(s != 200 for s, _ in answers):
            raise AssertionError(f"an error after S3 came back: {answers}")
        found = {b["version"] for _, b in answers}
        if found != {"2"}:
            raise NotYet(found)
        return True

    wait_until(switched, 180, "every replica to serve version 2 once S3 is back")
