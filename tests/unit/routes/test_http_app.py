"""The ingress's request wrapper in process (no Ray): auth, body limits and parsing, the inflight
limit, the error mapping and the request counters, over fake handles."""

from __future__ import annotations

import base64
import dataclasses
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from rayline import keys
from rayline.registry import RegistryError
from serve_app.http.app import Context, create_app
from serve_app.http.endpoint import Endpoint
from serve_app.http.responses import JSONResponse
from serve_app.routes import ENDPOINTS
from tests.unit.routes.fakes import (
    ADMIN,
    ADMIN_KEY,
    PREDICT,
    PREDICT_KEY,
    SETOSA,
    VIRGINICA,
    make_context,
)

CSV = (
    "sepal_length_cm,sepal_width_cm,petal_length_cm,petal_width_cm\n"
    "5.1,3.5,1.4,0.2\n"
    "6.7,3,5.2,2.3\n"
)


def _path(template: str) -> str:
    return template.format(name="iris", alias="champion", job_id="raysubmit_1", version="1")


def _basic(key: str, user: str = "rayline") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{key}".encode()).decode()}


# --- auth ------------------------------------------------------------------------------------
@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e.role], ids=lambda e: e.name)
def test_protected_routes_refuse_missing_and_unknown_keys(
    client: TestClient, endpoint: Endpoint
) -> None:
    method, path = endpoint.method, _path(endpoint.path)
    missing = client.request(method, path)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    key = endpoint.error_key  # V2 routes answer {"error": ...}
    assert missing.json() == {key: "missing API key: send 'Authorization: Bearer <key>'"}
    unknown = client.request(method, path, headers={"Authorization": "Bearer not-a-key"})
    assert unknown.status_code == 401
    assert unknown.json() == {key: "unknown or revoked API key"}
    assert unknown.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "endpoint", [e for e in ENDPOINTS if e.role == "admin"], ids=lambda e: e.name
)
def test_a_predict_key_may_not_use_admin_routes(client: TestClient, endpoint: Endpoint) -> None:
    method, path = endpoint.method, _path(endpoint.path)
    response = client.request(method, path, headers=PREDICT)
    assert response.status_code == 403
    assert response.json() == {"detail": "this key has role 'predict'; this route needs 'admin'"}
    assert "WWW-Authenticate" not in response.headers


def test_the_admin_key_may_use_predict_routes(client: TestClient) -> None:
    assert client.get("/v1/models", headers=ADMIN).status_code == 200
    assert client.get("/v1/whoami", headers=ADMIN).json() == {"role": "admin"}


def test_basic_auth_takes_the_key_as_password(client: TestClient) -> None:
    assert client.get("/v1/whoami", headers=_basic(PREDICT_KEY)).json() == {"role": "predict"}
    assert client.get("/v1/whoami", headers=_basic(ADMIN_KEY, user="")).json() == {"role": "admin"}
    assert client.get("/v1/whoami", headers=_basic("wrong")).status_code == 401
    garbled = client.get("/v1/whoami", headers={"Authorization": "Basic ***"})
    assert garbled.status_code == 401 and garbled.json()["detail"] == "unknown or revoked API key"


def test_other_schemes_and_empty_keys_are_unknown(client: TestClient) -> None:
    for header in (f"Token {PREDICT_KEY}", "Bearer ", PREDICT_KEY):
        response = client.get("/v1/whoami", headers={"Authorization": header})
        assert response.status_code == 401, header


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if not e.role], ids=lambda e: e.name)
def test_open_routes_need_no_key(client: TestClient, endpoint: Endpoint) -> None:
    response = client.request(endpoint.method, _path(endpoint.path))
    assert response.status_code == 200


# --- bodies ----------------------------------------------------------------------------------
def test_a_body_over_the_limit_is_413(client: TestClient) -> None:
    body = {"instances": [SETOSA] * 40}  # ~4 kB, the limit is 2 kB
    response = client.post("/predict", json=body, headers=PREDICT)
    assert response.status_code == 413
    assert response.json() == {"detail": "body larger than 2000 bytes"}


def test_a_body_far_over_the_limit_is_cut_off_by_its_length(client: TestClient) -> None:
    headers = {**PREDICT, "Content-Type": "application/json"}
    response = client.post("/predict", content=b"x" * 9_000, headers=headers)
    assert response.status_code == 413
    bogus = client.post("/predict", content=b"{}", headers={**headers, "Content-Length": "-1"})
    assert bogus.status_code == 413


def test_a_chunked_body_over_the_limit_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"instances": ['
        for _ in range(200):
            yield b"[1.0, 2.0, 3.0, 4.0],"
        yield b"[1, 2, 3, 4]]}"

    headers = {**PREDICT, "Content-Type": "application/json"}
    response = client.post("/predict", content=chunks(), headers=headers)
    assert response.status_code == 413


def test_a_wrong_media_type_is_415_naming_the_allowed_ones(client: TestClient) -> None:
    headers = {**PREDICT, "Content-Type": "application/xml"}
    response = client.post("/predict", content=b"<x/>", headers=headers)
    assert response.status_code == 415
    assert response.json() == {"detail": "send the body as application/json or text/csv"}


def test_bad_json_is_400(client: TestClient) -> None:
    headers = {**PREDICT, "Content-Type": "application/json; charset=utf-8"}
    response = client.post("/predict", content=b"{not json", headers=headers)
    assert (response.status_code, response.json()) == (400, {"detail": "body is not valid JSON"})


def test_huge_integers_are_refused_before_parsing(client: TestClient) -> None:
    headers = {**PREDICT, "Content-Type": "application/json"}
    body = b'{"instances": [[' + b"9" * 400 + b", 1, 2, 3]]}"
    response = client.post("/predict", content=body, headers=headers)
    assert response.status_code == 422
    assert response.json() == {"detail": "body holds an integer beyond 1e300"}


@pytest.mark.parametrize(
    "body",
    [
        # A lone surrogate and UTF-16: JSON the standard library reads, pydantic's parser not.
        b'{"instances": [[5.1, 3.5, 1.4, 0.2]], "note": "\\ud800"}',
        '{"instances": [[5.1, 3.5, 1.4, 0.2]], "note": 1}'.encode("utf-16"),
        # 302 digits inside a string: not a number, so not refused as one.
        b'{"instances": [[5.1, 3.5, 1.4, 0.2]], "note": "' + b"7" * 302 + b'"}',
    ],
)
def test_bodies_the_fast_parser_refuses_get_the_standard_librarys_answer(
    client: TestClient, body: bytes
) -> None:
    headers = {**PREDICT, "Content-Type": "application/json"}
    response = client.post("/predict", content=body, headers=headers)
    # Parsed as JSON either way: the unknown field is what the answer names.
    assert response.status_code == 422, response.text
    assert "note" in response.json()["detail"]


def test_invalid_bodies_name_the_field_but_not_the_value(client: TestClient) -> None:
    response = client.post("/predict", json={"rows": ["secret-value"]}, headers=PREDICT)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith("invalid request: ") and "rows" in detail
    assert "secret-value" not in detail


def test_a_csv_body_predicts_every_row(ctx: Context, client: TestClient) -> None:
    headers = {**PREDICT, "Content-Type": "text/csv"}
    response = client.post("/v1/models/iris/predict", content=CSV, headers=headers)
    assert response.status_code == 200
    assert response.json()["predictions"] == [0, 2]
    assert len(response.json()["probabilities"]) == 2  # CSV rows always get probabilities
    bad = client.post("/predict", content=b"\xff\xfe", headers=headers)
    assert (bad.status_code, bad.json()) == (400, {"detail": "CSV body is not UTF-8"})


# --- inflight limit, errors, counting ---------------------------------------------------------
def test_requests_beyond_the_inflight_limit_get_429_with_retry_after(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, max_inflight=1)
    hold = threading.Event()
    ctx.predictor.hold = hold
    with TestClient(create_app(ctx)) as client:
        first: dict[str, int] = {}
        worker = threading.Thread(
            target=lambda: first.update(
                status=client.post(
                    "/predict", json={"instances": [SETOSA]}, headers=PREDICT
                ).status_code
            )
        )
        worker.start()
        deadline = time.monotonic() + 10
        while ctx.inflight < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        try:
            refused = client.get("/health")
        finally:
            hold.set()
            worker.join()
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "1"
        assert refused.json() == {"detail": "too many requests in flight; retry shortly"}
        assert first == {"status": 200}
        assert ctx.inflight == 0
        assert client.get("/health").status_code == 200
    assert ctx.delta.requests[("health", "", "", 429)] == 1


def test_an_unexpected_error_is_a_500_without_a_traceback(ctx: Context, client: TestClient) -> None:
    ctx.metrics.target.fail = True
    response = client.get("/v1/metrics/timeseries", headers=PREDICT)
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error; see the Ingress replica logs"}
    assert ctx.inflight == 0


def test_registry_errors_keep_their_status(ctx: Context, client: TestClient) -> None:
    def refuse(name: str, alias: str, version: str) -> str:
        raise RegistryError(f"model '{name}': version {version} is archived", status=400)

    ctx.registry.set_alias = refuse  # type: ignore[method-assign]
    response = client.post("/v1/models/iris/aliases/champion", json={"version": "1"}, headers=ADMIN)
    assert response.status_code == 400
    assert response.json() == {"detail": "model 'iris': version 1 is archived"}
    assert "Retry-After" not in response.headers


def test_requests_are_counted_per_route_model_and_version(ctx: Context, client: TestClient) -> None:
    client.post("/predict", json={"instances": [SETOSA, VIRGINICA]}, headers=PREDICT)
    client.post(
        "/v1/models/iris/predict?alias=challenger", json={"instances": [SETOSA]}, headers=PREDICT
    )
    client.get("/v1/models")
    assert ctx.delta.requests == {
        ("predict_default", "iris", "1", 200): 1,
        ("predict_model", "iris", "2", 200): 1,
        ("list_models", "", "", 401): 1,
    }
    assert sorted(ctx.delta.latencies) == [("iris", "1"), ("iris", "2")]
    assert ctx.delta.batch_sizes == [2, 1]


def test_the_batch_size_is_not_part_of_the_answer(client: TestClient) -> None:
    body = client.post("/predict", json={"instances": [SETOSA]}, headers=PREDICT).json()
    assert set(body) == {"model", "alias", "version", "predictions", "probabilities", "classes"}


# --- keys that change and keys with a rate limit ---------------------------------------------
def test_a_key_added_to_the_ring_works_and_a_revoked_one_is_refused_at_once(
    ctx: Context, client: TestClient
) -> None:
    new = keys.new_key()
    headers = {"Authorization": f"Bearer {new}"}
    assert client.get("/v1/whoami", headers=headers).status_code == 401
    record = keys.key_record("predict", "ci", new)
    ctx.keys = keys.KeyRing.from_env(ctx.settings, [record])  # what the Ingress's refresh does
    assert client.get("/v1/whoami", headers=headers).json() == {"role": "predict"}
    revoked = dataclasses.replace(record, revoked_at=1.0)
    ctx.keys = keys.KeyRing.from_env(ctx.settings, [revoked])
    refused = client.get("/v1/whoami", headers=headers)
    assert (refused.status_code, refused.json()) == (401, {"detail": "unknown or revoked API key"})
    assert client.get("/v1/whoami", headers=ADMIN).status_code == 200  # the environment's stay


def test_a_key_over_its_rate_limit_gets_429_with_retry_after(
    ctx: Context, client: TestClient
) -> None:
    limited = keys.new_key()
    record = keys.key_record("predict", "slow", limited, rate=0.01, burst=2)
    ctx.keys = keys.KeyRing.from_env(ctx.settings, [record])
    headers = {"Authorization": f"Bearer {limited}"}
    assert [client.get("/v1/whoami", headers=headers).status_code for _ in range(2)] == [200, 200]
    over = client.get("/v1/whoami", headers=headers)
    assert over.status_code == 429
    assert over.json() == {"detail": "this key's rate limit is 0.01 requests/s"}
    assert 90 <= int(over.headers["Retry-After"]) <= 100  # one token at 0.01/s
    assert client.get("/v1/whoami", headers=PREDICT).status_code == 200  # other keys: no limit


def test_a_salted_hash_proves_the_key_and_the_id_alone_does_not() -> None:
    key = keys.new_key()
    record = keys.key_record("admin", "x", key)
    assert key not in repr(record) and record.hash != keys.key_record("admin", "x", key).hash
    forged = dataclasses.replace(record, hash=keys.salted_hash(record.salt, "other"))
    assert keys.KeyRing([], [forged]).identify(key) is None
    assert keys.KeyRing([], [record]).identify(key) == keys.Identity(record.id, "admin")
    with pytest.raises(ValueError, match="rate must be"):
        keys.key_record("predict", "x", key, rate=0)


def test_json_answers_hold_only_json_null_for_nan_and_infinities() -> None:
    response = JSONResponse({"score": float("nan"), "ratio": [float("inf"), 0.5], "name": "ñ"})
    assert response.body == '{"score":null,"ratio":[null,0.5],"name":"ñ"}'.encode()
    assert response.headers["content-type"] == "application/json"
