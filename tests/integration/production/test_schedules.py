"""Schedules on the production cluster: ticks fire real Ray Jobs that register in MLflow,
exactly once through a killed scheduler and a redeploy; forbid, timeout, failure alerts
(webhook, counter); the state in PostgreSQL."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlflow import MlflowClient

from rayline import stack as stack_module
from tests.promtext import samples, value
from tests.stack import BIN, Stack
from tests.waiting import NotYet, wait_until

pytestmark = pytest.mark.integration


def small_spec(name: str, **overrides: Any) -> dict[str, Any]:
    """An iris sweep of a few seconds (two trials), registered as model `name`."""
    spec: dict[str, Any] = {
        "name": name,
        "dataset": {"source": "iris"},
        "split": {"cv_folds": 2},
        "search": {"algorithm": "random", "num_samples": 2},
        "estimators": {"linear": {}},
        "ensemble": {"enabled": False},
    }
    spec.update(overrides)
    return spec


def runs(stack: Stack, schedule: str) -> list[dict[str, Any]]:
    status, body, _ = stack.http("GET", f"/v1/schedules/{schedule}/runs?limit=50", key="predict")
    assert status == 200, body
    return list(body["runs"])


def run_where(stack: Stack, schedule: str, **wanted: Any) -> list[dict[str, Any]]:
    found = [r for r in runs(stack, schedule) if all(r[k] == v for k, v in wanted.items())]
    return found


def ended(stack: Stack, schedule: str, run_id: int) -> dict[str, Any]:
    """The run once it has ended; until then NotYet with the run as it stands (its status,
    error and job), so that a timeout says where it stopped."""
    [run] = run_where(stack, schedule, id=run_id)
    if run["status"] in ("pending", "running"):
        raise NotYet(run)
    return run


@contextlib.contextmanager
def schedule(stack: Stack, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A schedule created through the API, deleted at the end whatever happens."""
    status, created, _ = stack.http("POST", "/v1/schedules", body)
    assert status == 201, created
    try:
        yield created
    finally:
        stack.http("DELETE", f"/v1/schedules/{body['name']}")


def forbidden(run: dict[str, Any]) -> bool:
    """A tick skipped because the run before it still went: recorded, but no job started."""
    return run["status"] == "skipped" and "concurrency: forbid" in (run["error"] or "")


def _jobs_of(stack: Stack, name: str) -> list[Any]:
    jobs = stack.jobs().list_jobs()
    return [j for j in jobs if (j.metadata or {}).get("rayline_schedule") == name]


def test_ticks_fire_exactly_once_through_a_killed_scheduler_and_a_redeploy(
    cluster: Stack,
) -> None:
    name = "iris-every"
    body = {"name": name, "spec": small_spec("sched_iris"), "every": "1m"}
    with schedule(cluster, body) as created:
        assert created["description"] == "every 1m", created
        first = wait_until(
            lambda: run_where(cluster, name, trigger="every"), 90, "the first tick's run"
        )[-1]
        # Kill the scheduler (the Metrics replica runs it) while its run is going: the restarted
        # one follows it to the end.
        victims = wait_until(lambda: cluster.replica_pids("Metrics"), 30, "the Metrics replica")
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        wait_until(
            lambda: cluster.replica_pids("Metrics") - victims,
            90,
            "Serve to restart the Metrics replica",
        )
        done = wait_until(lambda: ended(cluster, name, first["id"]), 180, "the first run to end")
        assert done["status"] == "succeeded" and done["outcome"] == "promoted", done
        assert done["model"] == "sched_iris" and done["version"] == "1"
        assert done["score"] is not None and done["metric"] == "accuracy"
        tags = MlflowClient(cluster.settings.tracking_uri).get_run(done["mlflow_run_id"]).data.tags
        assert tags["rayline.schedule"] == name
        assert tags["rayline.submission_id"] == done["submission_id"]
        assert tags["rayline.trigger"] == "every"

        # Redeploy while the next tick's run is in progress: nothing is lost, nothing doubled.
        # A tick that fell while the first run still went is skipped at once (concurrency:
        # forbid, the default) and starts no job; the run to follow is the first one submitted.
        second = wait_until(
            lambda: sorted(
                (r for r in runs(cluster, name) if r["id"] > first["id"] and not forbidden(r)),
                key=lambda r: r["id"],
            ),
            150,
            "the next tick's run to be submitted",
        )[0]
        config = yaml.safe_load((cluster.configs / "serve_config.yaml").read_text())
        config["applications"][0]["args"]["scheduler_tick_s"] = 2
        path = cluster.configs / "serve_config_tick2.yaml"
        path.write_text(yaml.safe_dump(config))
        cluster.run(str(BIN / "serve"), "deploy", str(path))
        stack_module.wait_ready(cluster.settings, seconds=240)
        status, listed, _ = cluster.http("GET", "/v1/schedules", key="predict")
        assert status == 200 and name in [s["name"] for s in listed["schedules"]]
        repeat = wait_until(
            lambda: ended(cluster, name, second["id"]),
            300,  # a training job on a busy two-node cluster, after a redeploy
            "the second run to end",
        )
        # Same config, same data: nothing new to learn.
        assert repeat["status"] == "succeeded" and repeat["outcome"] == "skipped", repeat
        status, _, _ = cluster.http("POST", f"/v1/schedules/{name}/pause")
        assert status == 200

        recorded = runs(cluster, name)
        ids = [r["submission_id"] for r in recorded if not forbidden(r)]
        # `every` ticks fall on the epoch-aligned minute, so a restart does not shift them.
        times = [r["scheduled_time"] for r in recorded if r["trigger"] == "every"]
        assert times and all(t % 60 == 0 for t in times), times
        jobs = _jobs_of(cluster, name)
        assert sorted(j.submission_id for j in jobs) == sorted(ids), "one Ray job per run"

        status, text, _ = cluster.http("GET", "/metrics", key="predict")
        assert status == 200
        found = samples(text)
        assert value(found, "rayline_schedule_runs_total", schedule=name, outcome="promoted") == 1
        # The last success is the newest run that succeeded: the second one (or a later one).
        success = value(found, "rayline_schedule_last_success_timestamp_seconds", schedule=name)
        assert success >= repeat["ended_at"] > done["ended_at"], (success, repeat, done)


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        type(self).received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Hook", (_Hook,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/alerts", received
    finally:
        server.shutdown()
        server.server_close()


def test_a_failed_run_records_its_step_counts_and_calls_the_webhook(
    cluster: Stack, webhook: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    url, received = webhook
    data = tmp_path / "no_label.csv"
    data.write_text("a,b\n1,2\n3,4\n5,6\n")
    spec = small_spec(
        "sched_broken",
        dataset={"source": str(data), "target": "label", "task": "classification"},
    )
    name = "broken-data"
    body = {"name": name, "spec": spec, "cron": "0 0 1 1 *", "webhook_url": url}
    with schedule(cluster, body):
        status, run, _ = cluster.http("POST", f"/v1/schedules/{name}/run")
        assert status == 202 and run["trigger"] == "manual", run
        failed = wait_until(
            lambda: run_where(cluster, name, id=run["id"], outcome="failed"),
            180,
            "the run to fail",
        )[0]
        assert failed["step"] == "load", failed
        assert "label" in failed["error"], failed["error"]
        alert = wait_until(lambda: received, 60, "the webhook call")[0]
        assert alert["schedule"] == name and alert["run"]["outcome"] == "failed"
        status, text, _ = cluster.http("GET", "/metrics", key="predict")
        found = samples(text)
        assert value(found, "rayline_schedule_runs_total", schedule=name, outcome="failed") == 1


def test_forbid_skips_a_tick_while_a_run_goes_and_timeout_stops_it(cluster: Stack) -> None:
    # 36 forests of 300-800 trees, 5 folds each, on digits: minutes on two cores.
    slow = small_spec(
        "sched_slow",
        dataset={"source": "digits"},
        search={"algorithm": "grid"},
        estimators={
            "random_forest": {
                "n_estimators": [300, 400, 500, 600, 700, 800],
                "max_depth": [4, 6, 8, 10, 12, 14],
            }
        },
        split={"cv_folds": 5},
    )
    name = "slow-forbid"
    # The manual run starts at once; the first tick comes at the next minute, while it goes.
    body = {"name": name, "spec": slow, "every": "1m", "timeout_s": 75}
    with schedule(cluster, body):
        status, first, _ = cluster.http("POST", f"/v1/schedules/{name}/run")
        assert status == 202 and first["status"] == "running", first

        def tick_decided() -> list[dict[str, Any]]:
            return [
                r for r in run_where(cluster, name, trigger="every") if r["status"] != "pending"
            ]

        tick = wait_until(tick_decided, 90, "the tick during the run")[0]
        assert forbidden(tick) and tick["outcome"] == "skipped", tick
        stopped = wait_until(
            lambda: run_where(cluster, name, id=first["id"], outcome="timeout"),
            120,
            "the timeout to stop the run",
        )[0]
        assert stopped["status"] == "stopped"
        assert cluster.http("POST", f"/v1/schedules/{name}/pause")[0] == 200
        started = [r["submission_id"] for r in runs(cluster, name) if r["status"] != "skipped"]
        assert sorted(j.submission_id for j in _jobs_of(cluster, name)) == sorted(started)

        def first_job_status() -> str:
            (job,) = [
                j for j in _jobs_of(cluster, name) if j.submission_id == first["submission_id"]
            ]
            return str(getattr(job.status, "value", job.status))

        wait_until(lambda: first_job_status() == "STOPPED", 60, "Ray to stop the job")


def test_invalid_schedules_are_refused_naming_the_field(cluster: Stack) -> None:
    cases = [
        ({"name": "bad-cron", "config": "iris", "cron": "61 * * * *"}, "cron: ", "'61'"),
        (
            {"name": "bad-tz", "config": "iris", "cron": "0 2 * * *", "timezone": "Mars/Base"},
            "timezone: ",
            "'Mars/Base'",
        ),
        (
            {"name": "bad-config", "config": "no_such_config", "every": "1h"},
            "config: ",
            "no_such_config: no such config file",
        ),
    ]
    for body, field, value_or_reason in cases:
        status, answer, _ = cluster.http("POST", "/v1/schedules", body)
        assert status == 422, (body, answer)
        # The field, and the value or the reason: what to fix.
        assert field in answer["detail"] and value_or_reason in answer["detail"], answer
    status, answer, _ = cluster.http(
        "POST", "/v1/schedules", {"name": "x1", "config": "iris", "every": "1h"}, key="predict"
    )
    assert status == 403
