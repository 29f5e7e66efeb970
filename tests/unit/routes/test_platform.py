"""The registry and platform routes in process (no Ray): models, versions, aliases, whoami,
jobs, catalog, configs, cluster, metrics and benchmarks, over a fake registry and job API.
Each test is marked with the routes it covers; see test_predict.py."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import create_engine
from starlette.testclient import TestClient

from rayline.keys import key_id
from rayline.state.access import AuditLog
from serve_app.http.app import Context
from serve_app.schemas import BenchmarkRequest, JobRequest
from tests.unit.routes.fakes import (
    ADMIN,
    ADMIN_KEY,
    COLUMNS,
    PREDICT,
    PREDICT_KEY,
    SETOSA,
    covers,
)


# --- registry -------------------------------------------------------------------------------
@covers("GET /v1/whoami")
def test_whoami_names_the_role_of_the_key(client: TestClient) -> None:
    assert client.get("/v1/whoami", headers=PREDICT).json() == {"role": "predict"}
    assert client.get("/v1/whoami", headers=ADMIN).json() == {"role": "admin"}


@covers("GET /v1/models", "GET /v1/models/{name}/versions")
def test_models_and_versions(client: TestClient) -> None:
    models = client.get("/v1/models", headers=PREDICT).json()["models"]
    assert models == [
        {
            "name": "iris",
            "description": "",
            "aliases": {"champion": "1", "challenger": "2"},
            "latest_version": "2",
            "updated_at": 1_700_000_000.0,
        }
    ]
    versions = client.get("/v1/models/iris/versions", headers=PREDICT).json()["versions"]
    assert [(v["version"], v["aliases"]) for v in versions] == [
        ("2", ["challenger"]),
        ("1", ["champion"]),
    ]
    assert versions[0]["metrics"] == {"accuracy": 0.96}  # test_ metrics, prefix dropped
    assert versions[0]["family"] == "linear" and versions[0]["run_id"] == "run-2"
    missing = client.get("/v1/models/nope/versions", headers=PREDICT)
    assert (missing.status_code, missing.json()) == (
        404,
        {"detail": "model nope is not registered"},
    )


@covers(
    "GET /v1/models", "GET /v1/models/{name}/versions", "POST /v1/models/{name}/aliases/{alias}"
)
def test_an_unreachable_registry_is_a_503_to_retry(ctx: Context, client: TestClient) -> None:
    ctx.registry.down = True  # type: ignore[attr-defined]
    for method, path, body in (
        ("GET", "/v1/models", None),
        ("GET", "/v1/models/iris/versions", None),
        ("POST", "/v1/models/iris/aliases/champion", {"version": "2"}),
    ):
        response = client.request(method, path, json=body, headers=ADMIN)
        assert response.status_code == 503, path
        assert response.headers["Retry-After"] == "5"
        assert response.json() == {"detail": "the MLflow registry is not reachable; retry shortly"}


@covers("GET /v1/models/{name}/schema")
def test_schema_of_a_served_version(client: TestClient) -> None:
    schema = client.get("/v1/models/iris/schema", headers=PREDICT).json()
    assert set(schema) == {
        "name", "alias", "version", "task", "inputs", "input_example", "classes", "probabilities"
    }  # fmt: skip
    assert schema["probabilities"] is True
    assert [c["name"] for c in schema["inputs"]] == COLUMNS
    assert set(schema["input_example"]) == set(COLUMNS)
    assert schema["classes"] == [0, 1, 2]
    by_version = client.get("/v1/models/iris/schema?version=1", headers=PREDICT).json()
    assert by_version["alias"] == "1"
    missing = client.get("/v1/models/iris/schema?alias=staging", headers=PREDICT)
    assert missing.status_code == 404 and "Retry-After" not in missing.headers


@covers("POST /v1/models/{name}/aliases/{alias}")
def test_set_alias_promotes_and_reports_the_previous_version(
    ctx: Context, client: TestClient
) -> None:
    url = "/v1/models/iris/aliases/champion"
    response = client.post(url, json={"version": "2"}, headers=ADMIN)
    assert response.json() == {
        "name": "iris",
        "alias": "champion",
        "version": "2",
        "previous_version": "1",
    }
    assert ctx.registry.aliases["champion"] == "2"  # type: ignore[attr-defined]
    unknown = client.post(url, json={"version": "99"}, headers=ADMIN)
    assert unknown.status_code == 404
    assert client.post(url, json={"version": "x"}, headers=ADMIN).status_code == 422


@covers("POST /v1/models/{name}/aliases/{alias}")
def test_set_alias_follows_the_serving_alias_grammar(ctx: Context, client: TestClient) -> None:
    created = client.post("/v1/models/iris/aliases/canary-1", json={"version": "1"}, headers=ADMIN)
    assert created.status_code == 200 and created.json()["previous_version"] is None
    served = client.post(
        "/v1/models/iris/predict?alias=canary-1", json={"instances": [SETOSA]}, headers=ADMIN
    )
    assert served.status_code == 404  # the grammar let it through to the (fake) predictor
    for alias in ("_hidden", "a.b", "-x"):
        refused = client.post(
            f"/v1/models/iris/aliases/{alias}", json={"version": "1"}, headers=ADMIN
        )
        assert refused.status_code == 422, alias
        assert refused.json()["detail"].startswith("alias: 1 to 64 letters")
    assert set(ctx.registry.aliases) == {"champion", "challenger", "canary-1"}  # type: ignore[attr-defined]


# --- jobs, catalog, configs -----------------------------------------------------------------
@covers("GET /v1/catalog", "GET /v1/configs")
def test_catalog_and_shipped_configs(client: TestClient) -> None:
    catalog = client.get("/v1/catalog", headers=PREDICT).json()
    assert set(catalog) == {"families", "builtin_datasets", "metrics"}
    assert {"iris", "breast_cancer"} <= {d["name"] for d in catalog["builtin_datasets"]}
    assert "classification" in catalog["families"] and "classification" in catalog["metrics"]
    configs = client.get("/v1/configs", headers=PREDICT).json()["configs"]
    assert configs and all({"name", "yaml", "spec"} <= set(c) for c in configs)


@covers("POST /v1/jobs", "GET /v1/jobs", "GET /v1/jobs/{job_id}")
def test_submit_list_and_follow_a_job(ctx: Context, client: TestClient) -> None:
    submitted = client.post("/v1/jobs", json={"config": "iris"}, headers=ADMIN)
    assert (submitted.status_code, submitted.json()) == (201, {"job_id": "raysubmit_1"})
    assert ctx.jobs.submitted == [JobRequest(config="iris")]  # type: ignore[attr-defined]
    assert client.post("/v1/jobs", json={"config": "../x"}, headers=ADMIN).status_code == 422
    jobs = client.get("/v1/jobs", headers=PREDICT).json()["jobs"]
    assert [j["job_id"] for j in jobs] == ["raysubmit_1"]
    detail = client.get("/v1/jobs/raysubmit_1", headers=PREDICT).json()
    assert detail["progress"]["trials_done"] == 1 and detail["progress"]["trials_total"] == 4
    missing = client.get("/v1/jobs/raysubmit_9", headers=PREDICT)
    assert (missing.status_code, missing.json()) == (404, {"detail": "no job raysubmit_9"})


@covers("GET /v1/jobs/{job_id}/logs", "POST /v1/jobs/{job_id}/stop")
def test_job_logs_and_stop(ctx: Context, client: TestClient) -> None:
    logs = client.get("/v1/jobs/raysubmit_1/logs?tail=2", headers=ADMIN).json()
    assert logs == {"logs": "line 9\nline 10"}
    assert client.get("/v1/jobs/raysubmit_1/logs", headers=ADMIN).json()["logs"].count("\n") == 9
    bad = client.get("/v1/jobs/raysubmit_1/logs?tail=-1", headers=ADMIN)
    assert (bad.status_code, bad.json()) == (
        422,
        {"detail": "tail: Input should be greater than or equal to 0"},
    )
    beyond = client.get("/v1/jobs/raysubmit_1/logs?tail=5001", headers=ADMIN)  # refused, not cut
    assert beyond.json() == {"detail": "tail: Input should be less than or equal to 5000"}
    stopped = client.post("/v1/jobs/raysubmit_1/stop", headers=ADMIN)
    assert stopped.json() == {"stopped": True}
    assert ctx.jobs.stopped == ["raysubmit_1"]  # type: ignore[attr-defined]
    assert client.post("/v1/jobs/raysubmit_9/stop", headers=ADMIN).status_code == 404


@covers("GET /v1/jobs", "GET /v1/cluster")
def test_an_unreachable_job_api_is_a_503_to_retry(ctx: Context, client: TestClient) -> None:
    ctx.jobs.unreachable = True  # type: ignore[attr-defined]
    for path in ("/v1/jobs", "/v1/cluster"):
        response = client.get(path, headers=PREDICT)
        assert response.status_code == 503 and response.headers["Retry-After"] == "5"
        assert response.json() == {"detail": "the Ray Jobs API is not reachable (ConnectionError)"}


# --- cluster, metrics, benchmarks -----------------------------------------------------------
BENCHMARKS = {  # result files as `python -m jobs.benchmark` writes them
    "serving": {
        "id": "20260101T000000-serving-1",
        "kind": "serving",
        "created_at": 1_767_225_600.0,
        "settings": {"model": "iris", "alias": "champion", "concurrency": 8},
        "summary": {
            "throughput_rps": 250.5,
            "rows_per_s": 250.5,
            "p50_ms": 6.5,
            "p90_ms": 11.0,
            "p99_ms": 30.0,
            "errors": 0,
            "requests": 2505,
        },
        "raw": {"mean_ms": 7.1, "statuses": {"200": 2505}},
    },
    "training": {
        "id": "20260102T000000-training-2",
        "kind": "training",
        "created_at": 1_767_312_000.0,
        "settings": {"dataset": "wine", "n_configs": 8},
        "summary": {
            "sequential_s": 40.0,
            "parallel_s": 22.0,
            "speedup": 1.818,
            "n_configs": 8,
            "best_score_sequential": 0.97,
            "best_score_parallel": 0.97,
        },
        "raw": {"metric": "accuracy", "folds": 5},
    },
}


@covers("GET /v1/cluster")
def test_cluster_joins_state_jobs_and_links(ctx: Context, client: TestClient) -> None:
    cluster = client.get("/v1/cluster", headers=PREDICT).json()
    assert cluster["totals"]["cpus_total"] == 2
    assert [j["job_id"] for j in cluster["jobs"]] == ["raysubmit_1"]
    assert cluster["links"] == {
        "ray_dashboard": ctx.settings.ray_dashboard_url,
        "mlflow": ctx.settings.tracking_uri,
    }


@covers("GET /v1/metrics/timeseries", "GET /metrics")
def test_timeseries_and_prometheus_text(ctx: Context, client: TestClient) -> None:
    series = client.get("/v1/metrics/timeseries?minutes=5", headers=PREDICT)
    assert series.json()["totals"] == {"requests": 3, "errors": 0}
    client.get("/v1/metrics/timeseries", headers=PREDICT)
    long = client.get("/v1/metrics/timeseries?minutes=600", headers=PREDICT)  # refused, not cut
    assert long.json() == {"detail": "minutes: Input should be less than or equal to 60"}
    assert ctx.metrics.target.minutes == [5.0, 10.0]  # default 10
    bad = client.get("/v1/metrics/timeseries?minutes=soon", headers=PREDICT)
    assert bad.status_code == 422 and bad.json()["detail"].startswith("minutes: Input should be")
    unknown = client.get("/v1/metrics/timeseries?minute=5", headers=PREDICT)
    assert unknown.json() == {"detail": "minute: not a parameter of this route"}
    twice = client.get("/v1/metrics/timeseries?minutes=5&minutes=6", headers=PREDICT)
    assert twice.json() == {"detail": "query parameter 'minutes': given more than once"}
    text = client.get("/metrics", headers=PREDICT)
    assert text.text.startswith("rayline_requests_total 3\n")
    assert text.headers["content-type"].startswith("text/plain; version=0.0.4")


@covers("POST /v1/benchmarks", "GET /v1/benchmarks")
def test_benchmarks_submit_and_list(ctx: Context, client: TestClient) -> None:
    response = client.post("/v1/benchmarks", json={"kind": "serving"}, headers=ADMIN)
    assert (response.status_code, response.json()) == (202, {"job_id": "raysubmit_2"})
    submitted = ctx.jobs.submitted[-1]  # type: ignore[attr-defined]
    assert submitted == BenchmarkRequest(kind="serving", model="iris")  # the default model
    assert client.post("/v1/benchmarks", json={"kind": "nap"}, headers=ADMIN).status_code == 422
    folder = ctx.settings.benchmarks_dir
    folder.mkdir(parents=True)
    (folder / "2026-01-01.json").write_text(json.dumps(BENCHMARKS["serving"]))
    (folder / "2026-01-02.json").write_text(json.dumps(BENCHMARKS["training"]))
    (folder / "2026-01-03.json").write_text("{half a file")
    results = client.get("/v1/benchmarks", headers=PREDICT).json()["results"]
    assert [r["kind"] for r in results] == ["training", "serving"]  # newest first, bad skipped


# --- audit ----------------------------------------------------------------------------------
@covers("POST /v1/models/{name}/aliases/{alias}", "POST /v1/jobs/{job_id}/stop", "GET /v1/audit")
def test_admin_actions_are_audited_with_the_key_id_never_the_key(client: TestClient) -> None:
    promoted = client.post("/v1/models/iris/aliases/champion", json={"version": "2"}, headers=ADMIN)
    assert promoted.status_code == 200
    denied = client.post("/v1/models/iris/aliases/champion", json={"version": "1"}, headers=PREDICT)
    assert denied.status_code == 403
    nobody = {"Authorization": "Bearer not-a-key"}
    assert client.post("/v1/jobs/x/stop", headers=nobody).status_code == 401  # names nobody
    assert client.post("/v1/jobs/nope/stop", headers=ADMIN).status_code == 404
    assert client.get("/v1/models", headers=ADMIN).status_code == 200  # a read: not an action

    page = client.get("/v1/audit", headers=ADMIN)
    assert page.status_code == 200 and page.json()["next_before"] is None
    entries = page.json()["entries"]
    assert [
        (e["action"], e["target"], e["outcome"], e["status"], e["key_id"]) for e in entries
    ] == [
        ("stop_job", "/v1/jobs/nope/stop", "failed", 404, key_id(ADMIN_KEY)),
        ("set_alias", "/v1/models/iris/aliases/champion", "denied", 403, key_id(PREDICT_KEY)),
        ("set_alias", "/v1/models/iris/aliases/champion", "ok", 200, key_id(ADMIN_KEY)),
    ]
    assert entries[-1]["detail"] == "version 2, was 1"
    assert ADMIN_KEY not in page.text and PREDICT_KEY not in page.text
    assert entries[0]["id"] > entries[1]["id"] > entries[2]["id"] and entries[0]["time"] > 0

    first = client.get("/v1/audit?limit=1", headers=ADMIN).json()
    assert [e["action"] for e in first["entries"]] == ["stop_job"]
    rest = client.get(f"/v1/audit?before={first['next_before']}", headers=ADMIN).json()
    assert [e["id"] for e in rest["entries"]] == [e["id"] for e in entries[1:]]
    for query, expected in (
        ("action=set_alias", 2),
        (f"key_id={key_id(PREDICT_KEY)}", 1),
        ("outcome=ok", 1),
        ("outcome=failed&action=stop_job", 1),
        (f"since={entries[0]['time'] + 1}", 0),
    ):
        got = client.get(f"/v1/audit?{query}", headers=ADMIN).json()["entries"]
        assert len(got) == expected, query
    assert client.get("/v1/audit?outcome=maybe", headers=ADMIN).status_code == 422
    assert client.get("/v1/audit", headers=PREDICT).status_code == 403


@covers("POST /v1/jobs")
def test_a_submit_is_audited_and_an_audit_write_that_fails_does_not_fail_it(
    ctx: Context, client: TestClient, tmp_path: Path
) -> None:
    submitted = client.post("/v1/jobs", json={"config": "iris"}, headers=ADMIN)
    assert submitted.status_code == 201
    [entry] = ctx.audit.read()  # type: ignore[union-attr]
    assert (entry.action, entry.detail) == ("submit_job", f"job {submitted.json()['job_id']}")
    ctx.audit = AuditLog(create_engine(f"sqlite:///{tmp_path}/no/such/folder/state.db"))
    assert client.post("/v1/jobs", json={"config": "iris"}, headers=ADMIN).status_code == 201
