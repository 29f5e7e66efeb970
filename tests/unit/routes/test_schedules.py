"""The /v1/schedules routes in process: the ingress app over the real schedules API, engine and
a SQLite state database, with a fake Ray. Each test is marked with the routes it covers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from rayline.scheduling.engine import Engine
from rayline.settings import Settings
from rayline.state import StateStore
from serve_app.http.app import Context
from serve_app.scheduler import RayJobRunner
from tests.promtext import samples, types, value
from tests.unit.routes.fakes import (
    ADMIN,
    PREDICT,
    FakeMetrics,
    Handle,
    covers,
    make_context,
)
from tests.unit.test_scheduling_engine import FakeRay

SPEC = {"name": "iris", "dataset": {"source": "iris"}, "estimators": {"linear": {}}}
NIGHTLY = {"name": "nightly", "spec": SPEC, "cron": "0 2 * * *", "timezone": "Europe/Madrid"}


@pytest.fixture
def ray() -> FakeRay:
    return FakeRay()


@pytest.fixture
def engine(tmp_path: Path, ray: FakeRay) -> Engine:
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    return Engine(store, ray, Settings(), lambda: datetime(2026, 12, 2, 1, 0, tzinfo=UTC))


@pytest.fixture
def ctx(tmp_path: Path, engine: Engine) -> Context:
    context = make_context(tmp_path)
    context.metrics = Handle(FakeMetrics(tmp_path, engine))
    return context


@covers("POST /v1/schedules", "GET /v1/schedules", "GET /v1/schedules/{name}")
def test_create_list_and_read_a_schedule(client: TestClient) -> None:
    created = client.post("/v1/schedules", json=NIGHTLY, headers=ADMIN)
    assert created.status_code == 201, created.text
    assert created.json()["description"] == "every day at 02:00 Europe/Madrid"
    assert created.json()["source"] == "api" and created.json()["paused"] is False
    listed = client.get("/v1/schedules", headers=PREDICT).json()["schedules"]
    assert [s["name"] for s in listed] == ["nightly"]
    one = client.get("/v1/schedules/nightly", headers=PREDICT).json()
    assert one["spec"]["cron"] == "0 2 * * *" and one["last_run"] is None
    assert client.get("/v1/schedules/nope", headers=PREDICT).status_code == 404
    again = client.post("/v1/schedules", json=NIGHTLY, headers=ADMIN)
    assert again.status_code == 409 and "exists" in again.json()["detail"]


@covers("POST /v1/schedules")
def test_invalid_schedules_name_the_field(client: TestClient) -> None:
    cases = [
        ({**NIGHTLY, "cron": "0 25 * * *"}, "cron"),
        ({**NIGHTLY, "timezone": "Mars/Olympus"}, "timezone"),
        ({"name": "x", "config": "no_such_config", "every": "1h"}, "config"),
        ({"name": "x", "spec": SPEC}, "cron"),
        ({"name": "Bad Name", "spec": SPEC, "every": "1h"}, "name"),
    ]
    for body, field in cases:
        answer = client.post("/v1/schedules", json=body, headers=ADMIN)
        assert answer.status_code == 422, (body, answer.text)
        assert field in answer.json()["detail"], answer.json()
    assert client.post("/v1/schedules", json=NIGHTLY, headers=PREDICT).status_code == 403
    assert client.post("/v1/schedules", json=NIGHTLY).status_code == 401


@covers(
    "PATCH /v1/schedules/{name}",
    "POST /v1/schedules/{name}/pause",
    "POST /v1/schedules/{name}/resume",
    "DELETE /v1/schedules/{name}",
)
def test_change_pause_resume_and_delete(client: TestClient) -> None:
    client.post("/v1/schedules", json=NIGHTLY, headers=ADMIN)
    changed = client.patch("/v1/schedules/nightly", json={"every": "30m"}, headers=ADMIN)
    assert changed.status_code == 200, changed.text
    assert changed.json()["description"] == "every 30m"
    bad = client.patch("/v1/schedules/nightly", json={"every": "5s"}, headers=ADMIN)
    assert bad.status_code == 422 and "every" in bad.json()["detail"]
    paused = client.post("/v1/schedules/nightly/pause", headers=ADMIN).json()
    assert paused["paused"] is True and paused["next_fire"] is None
    assert client.post("/v1/schedules/nightly/resume", headers=ADMIN).json()["paused"] is False
    assert client.post("/v1/schedules/nightly/pause", headers=PREDICT).status_code == 403
    assert client.delete("/v1/schedules/nightly", headers=ADMIN).json() == {"deleted": True}
    assert client.delete("/v1/schedules/nightly", headers=ADMIN).status_code == 404


@covers("POST /v1/schedules/{name}/run", "GET /v1/schedules/{name}/runs", "GET /v1/schedule-runs")
def test_run_now_and_read_the_history(client: TestClient, ray: FakeRay) -> None:
    client.post("/v1/schedules", json=NIGHTLY, headers=ADMIN)
    run = client.post("/v1/schedules/nightly/run", headers=ADMIN)
    assert run.status_code == 202, run.text
    assert run.json()["trigger"] == "manual" and run.json()["status"] == "running"
    assert ray.submitted == [run.json()["submission_id"]]
    history = client.get("/v1/schedules/nightly/runs?limit=10", headers=PREDICT).json()
    assert history["total"] == 1 and history["runs"][0]["id"] == run.json()["id"]
    assert client.get("/v1/schedules/nightly/runs?limit=0", headers=PREDICT).status_code == 422
    assert client.get("/v1/schedules/nightly/runs?limit=201", headers=PREDICT).status_code == 422
    assert client.get("/v1/schedules/nightly/runs?offset=x", headers=PREDICT).status_code == 422
    # Unicode digits pass str.isdigit but not int(): still a 422, never a 500.
    assert client.get("/v1/schedules/nightly/runs?limit=²", headers=PREDICT).status_code == 422
    recent = client.get("/v1/schedule-runs", headers=PREDICT).json()["runs"]
    assert [r["schedule"] for r in recent] == ["nightly"]


@covers("GET /metrics")
def test_prometheus_carries_the_schedule_metrics(
    client: TestClient, ray: FakeRay, engine: Engine
) -> None:
    client.post("/v1/schedules", json=NIGHTLY, headers=ADMIN)
    run = client.post("/v1/schedules/nightly/run", headers=ADMIN).json()
    ray.finish(run["submission_id"], None)
    engine.tick()  # concludes the failed run; learns the next fire
    text = client.get("/metrics", headers=PREDICT).text
    assert types(text)["rayline_schedule_runs"] == "counter"
    found = samples(text)
    assert value(found, "rayline_schedule_runs_total", schedule="nightly", outcome="failed") == 1
    next_fire = datetime(2026, 12, 3, 1, 0, tzinfo=UTC).timestamp()  # 02:00 in Madrid
    assert (
        value(found, "rayline_schedule_next_fire_timestamp_seconds", schedule="nightly")
        == next_fire
    )


class _Client:
    """A JobSubmissionClient that answers get_job_info with one HTTP status."""

    def __init__(self, status: int) -> None:
        self.status = status

    def get_job_info(self, submission_id: str) -> Any:
        raise RuntimeError(f"Request failed with status code {self.status}: busy.")


class _Jobs:
    def __init__(self, status: int) -> None:
        self.client = _Client(status)


def test_only_a_404_means_ray_does_not_know_the_job() -> None:
    """A dashboard that answers 503 (busy, restarting) must not fail a running run as unknown:
    the error goes up, and the engine asks again next tick."""
    assert RayJobRunner(_Jobs(404)).state("rayline-x") is None  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="503"):
        RayJobRunner(_Jobs(503)).state("rayline-x")  # type: ignore[arg-type]
