"""The API's contract: /openapi.json is built from the models the route table names, and the web
UI's types are generated from a committed snapshot of it (web/src/api/openapi.json and
schema.d.ts, written by `npm run gen:api`). These tests fail when the snapshot drifts from the
routes, when the document stops being valid OpenAPI 3.1, when a query model promises what its
handler does not enforce, or when the models name other values than the code produces. (That
every answer of the route tests matches its response model is `check_contract`'s job.)"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal, get_args

import httpx
import jsonschema
import pytest
import schemathesis
from ray.job_submission import JobStatus
from schemathesis.specs.openapi.definitions import OPENAPI_31
from starlette.testclient import TestClient

from rayline.estimators import TASKS
from rayline.settings import PROJECT_ROOT
from rayline.state.records import OUTCOMES, SOURCES, STATUSES, TRIGGERS
from serve_app.http.app import create_app
from serve_app.http.endpoint import Endpoint
from serve_app.open_inference import DTYPES, SIGNATURE_DATATYPES, Datatype
from serve_app.openapi import openapi_document
from serve_app.routes import ENDPOINTS
from serve_app.routes.platform_schemas import Job
from serve_app.routes.predict import ModelSchema
from serve_app.routes.schedules import Schedule, ScheduleRun
from tests.unit.routes.fakes import ADMIN, PREDICT, SETOSA, check_contract, make_context

SNAPSHOT = PROJECT_ROOT / "web/src/api/openapi.json"
GENERATED = PROJECT_ROOT / "web/src/api/schema.d.ts"
REGENERATE = "run `npm run gen:api` in web/ and commit web/src/api/"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi_document(ENDPOINTS)


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The paths and component schemas that differ (the whole documents are too long to show)."""
    found = []
    for section in ("paths", "components"):
        a, b = old.get(section, {}), new.get(section, {})
        if section == "components":
            a, b = a.get("schemas", {}), b.get("schemas", {})
        found += [
            f"{section}: {key}" for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)
        ]
    return found or ["the rest of the document"]


def test_the_ui_snapshot_is_the_document_the_routes_build(document: dict[str, Any]) -> None:
    snapshot = json.loads(SNAPSHOT.read_text())
    changed = _differences(snapshot, document) if snapshot != document else []
    assert not changed, (
        f"web/src/api/openapi.json differs from the routes in {changed}: {REGENERATE}"
    )


def test_the_ui_types_are_generated_from_the_snapshot() -> None:
    digest = hashlib.sha256(SNAPSHOT.read_bytes()).hexdigest()
    header = re.search(r"openapi\.json sha256: ([0-9a-f]{64})", GENERATED.read_text()[:1000])
    assert header is not None, f"{GENERATED} has no generator header: {REGENERATE}"
    assert header.group(1) == digest, (
        f"web/src/api/schema.d.ts is older than the snapshot: {REGENERATE}"
    )


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(OPENAPI_31).validate(document)
    schemas = document["components"]["schemas"]
    for schema in schemas.values():
        jsonschema.Draft202012Validator.check_schema(schema)
    text = json.dumps(document)
    for kind, name in re.findall(r'"\$ref": "#/components/(\w+)/([^"]+)"', text):
        assert name in document["components"][kind], f"dangling $ref to {kind}/{name}"
    operations = [
        result.ok() for result in schemathesis.openapi.from_dict(document).get_all_operations()
    ]
    assert len(operations) == len(ENDPOINTS)


def test_every_route_answers_a_model_or_text(document: dict[str, Any]) -> None:
    for e in ENDPOINTS:
        success = document["paths"][e.path][e.method.lower()]["responses"][str(e.status)]
        media = ["text/plain"] if e.response is None else ["application/json"]
        if e.binary:  # V2's binary tensor data extension: a JSON header, then bytes
            media.append("application/octet-stream")
        assert list(success["content"]) == media, e.name
    text = {e.name for e in ENDPOINTS if e.response is None}
    assert text == {"ping", "version", "prometheus"}  # MLflow's and Prometheus' text answers


# --- query models: the bounds and defaults the handlers enforce ---------------------------------
SAMPLE_PATH = {"name": "iris", "job_id": "raysubmit_1"}
BODIES = {"/v1/models/{name}/predict": {"instances": [SETOSA]}}


def _query_parameters() -> list[tuple[Endpoint, dict[str, Any]]]:
    document = openapi_document(ENDPOINTS)
    return [
        (e, parameter)
        for e in ENDPOINTS
        for parameter in document["paths"][e.path][e.method.lower()]["parameters"]
        if parameter["in"] == "query"
    ]


def _values(schema: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """Values the schema allows (default, examples, bounds) and whole numbers past its bounds."""
    allowed = [schema[k] for k in ("default", "minimum", "maximum") if k in schema]
    allowed += schema.get("examples", [])
    refused = []
    if "minimum" in schema:
        refused.append(schema["minimum"] - 1)
    if "maximum" in schema:
        refused.append(schema["maximum"] + 1)
    return allowed, refused


@pytest.mark.parametrize(
    ("endpoint", "parameter"),
    _query_parameters(),
    ids=[f"{e.name}-{p['name']}" for e, p in _query_parameters()],
)
def test_a_query_parameter_is_refused_exactly_outside_its_schema(
    tmp_path: Path, endpoint: Endpoint, parameter: dict[str, Any]
) -> None:
    path = endpoint.path.format(**SAMPLE_PATH)
    body = BODIES.get(endpoint.path)
    allowed, refused = _values(parameter["schema"])
    assert allowed, f"{endpoint.name} ?{parameter['name']}: give it a default or examples"
    with TestClient(create_app(make_context(tmp_path)), raise_server_exceptions=False) as client:
        client.event_hooks = {"response": [check_contract]}
        for value, accept in [(v, True) for v in allowed] + [(v, False) for v in refused]:
            answer = client.request(
                endpoint.method, path, params={parameter["name"]: value}, json=body, headers=ADMIN
            )
            # Schedule routes answer 404 here (no scheduler) once the parameters are valid.
            assert (answer.status_code != 422) is accept, (parameter["name"], value, answer.text)


# --- the models name the values the code produces ----------------------------------------------
def _literal(annotation: Any) -> set[Any]:
    """The values of `Literal[...]` or `Literal[...] | None`."""
    options = [a for a in get_args(annotation) if a is not type(None)]
    if len(options) == 1 and getattr(options[0], "__origin__", None) is Literal:
        return set(get_args(options[0]))
    return set(options)


def test_the_literals_of_the_contract_are_the_values_of_the_core() -> None:
    run = ScheduleRun.model_fields
    assert _literal(run["trigger"].annotation) == set(TRIGGERS)
    assert _literal(run["status"].annotation) == set(STATUSES)
    assert _literal(run["outcome"].annotation) == set(OUTCOMES)
    assert _literal(Schedule.model_fields["source"].annotation) == set(SOURCES)
    assert _literal(ModelSchema.model_fields["task"].annotation) == set(TASKS)
    assert _literal(Job.model_fields["status"].annotation) == {s.value for s in JobStatus}
    assert set(SIGNATURE_DATATYPES.values()) <= set(get_args(Datatype)) == set(DTYPES)


# --- the route tests' checker ---------------------------------------------------------------------
def test_an_answer_that_leaves_its_model_fails_the_route_tests(tmp_path: Path) -> None:
    ctx = make_context(tmp_path)
    with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
        client.event_hooks = {"response": [check_contract]}
        assert client.get("/v1/metrics/timeseries", headers=PREDICT).status_code == 200

        async def renamed(minutes: float) -> dict[str, Any]:
            return {"interval_s": 5.0, "points": [], "totals": {"requests": 0, "errors": 0}}

        ctx.metrics.target.timeseries = renamed
        with pytest.raises(AssertionError, match="not a TimeSeries"):
            client.get("/v1/metrics/timeseries", headers=PREDICT)
    created = httpx.Request("POST", "http://ingress/v1/jobs")
    with pytest.raises(AssertionError, match="answered 200"):  # its row declares 201
        check_contract(httpx.Response(200, json={"job_id": "raysubmit_1"}, request=created))
    check_contract(httpx.Response(201, json={"job_id": "raysubmit_1"}, request=created))
