"""Security on the real stack: hostile request bodies, the role matrix of every protected route,
Ray's token on its own APIs, and what the stack listens on.

These were the deterministic parts of `make chaos`; the load and the faults stay there."""

from __future__ import annotations

import base64
import http.client
import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from bench.chaos.leaks import echo_problem
from rayline import stack as stack_module
from rayline.keys import key_id
from rayline.ray_api import ray_token
from serve_app.http.endpoint import Endpoint
from serve_app.routes import ENDPOINTS
from serve_app.schemas import AliasRequest, AppArgs, MlflowRequest, PredictRequest
from tests.stack import BIN, Stack
from tests.waiting import NotYet, wait_until

pytestmark = pytest.mark.integration

ROW = [5.1, 3.5, 1.4, 0.2]
COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
RECORD = dict(zip(COLUMNS, ROW, strict=True))
LONG_TEXT = "x-secret-payload-" + "y" * 40
"""A request value no error body may repeat."""
PREDICT = "/v1/models/iris_it/predict"
INFER = "/v2/models/iris_it/infer"
JSON = {"Content-Type": "application/json"}
CSV = {"Content-Type": "text/csv"}
RAY_APIS = ("/api/jobs/", "/api/version", "/nodes?view=summary", "/api/v0/actors")
"""Ray's Jobs API, dashboard and state API, on the stack's dashboard port."""


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _nested(depth: int) -> bytes:
    return b'{"instances": ' + b"[" * depth + b"1" + b"]" * depth + b"}"


# (path, raw body, headers, accepted statuses) of every hostile input, by name.
HOSTILE = [
    pytest.param(PREDICT, b'{"instances": [[NaN, 3.5, 1.4, 0.2]]}', JSON, {422}, id="nan"),
    pytest.param(
        PREDICT, b'{"instances": [[Infinity, 3.5, 1.4, -Infinity]]}', JSON, {422}, id="infinity"
    ),
    pytest.param(
        PREDICT,
        b'{"instances": [{"sepal length (cm)": NaN, "sepal width (cm)": 3.5, '
        b'"petal length (cm)": 1.4, "petal width (cm)": 0.2}]}',
        JSON,
        {422},
        id="nan_in_record",
    ),
    pytest.param(
        PREDICT, _json({"instances": [[1e308, 3.5, 1.4, 0.2]]}), JSON, {422}, id="huge_float"
    ),
    pytest.param(
        PREDICT, b'{"instances": [[1e999, 3.5, 1.4, 0.2]]}', JSON, {422}, id="float_overflow"
    ),
    pytest.param(
        PREDICT,
        b'{"instances": [[' + b"9" * 400 + b", 3.5, 1.4, 0.2]]}",
        JSON,
        {422},
        id="huge_int_400_digits",
    ),
    pytest.param(
        PREDICT,
        b'{"instances": [[' + b"9" * 5000 + b", 3.5, 1.4, 0.2]]}",
        JSON,
        {400, 422},
        id="huge_int_5000_digits",
    ),
    pytest.param(
        PREDICT, _json({"instances": [[LONG_TEXT, 3.5, 1.4, 0.2]]}), JSON, {422}, id="string_value"
    ),
    pytest.param(
        PREDICT, _json({"instances": [[True, 3.5, 1.4, 0.2]]}), JSON, {422}, id="bool_value"
    ),
    pytest.param(
        PREDICT, _json({"instances": [[None, 3.5, 1.4, 0.2]]}), JSON, {422}, id="null_value"
    ),
    pytest.param(PREDICT, _json({"instances": LONG_TEXT}), JSON, {422}, id="instances_not_list"),
    pytest.param(PREDICT, _json([LONG_TEXT]), JSON, {422}, id="body_not_object"),
    pytest.param(PREDICT, _json({"instances": []}), JSON, {422}, id="empty_instances"),
    pytest.param(
        PREDICT,
        _json({"instances": [{k: v for k, v in RECORD.items() if k != "petal width (cm)"}]}),
        JSON,
        {422},
        id="missing_column",
    ),
    pytest.param(
        PREDICT,
        _json({"instances": [{**RECORD, "colour": LONG_TEXT}]}),
        JSON,
        {422},
        id="extra_column",
    ),
    pytest.param(PREDICT, _json({"instances": [[1.0, 2.0]]}), JSON, {422}, id="short_row"),
    pytest.param(PREDICT, _json({"instances": [ROW, [1.0]]}), JSON, {422}, id="ragged_rows"),
    pytest.param(
        PREDICT, _json({"instances": [ROW], "explain": LONG_TEXT}), JSON, {422}, id="extra_field"
    ),
    pytest.param(PREDICT, _nested(10_000), JSON, {400, 422}, id="deep_nesting_10000"),
    pytest.param(PREDICT, _nested(900), JSON, {400, 422}, id="deep_nesting_900"),
    pytest.param(PREDICT, _json({"instances": [ROW] * 10_001}), JSON, {422}, id="too_many_rows"),
    pytest.param(
        PREDICT, b'{"instances": [[1.0, 2.0' + LONG_TEXT.encode(), JSON, {400}, id="invalid_json"
    ),
    pytest.param(PREDICT, b'{"instances": [["\xff\xfe", 1, 2, 3]]}', JSON, {400}, id="not_utf8"),
    pytest.param(
        PREDICT,
        b"<instances>" + LONG_TEXT.encode() + b"</instances>",
        {"Content-Type": "application/xml"},
        {415},
        id="xml_media_type",
    ),
    pytest.param(PREDICT, _json({"instances": [ROW]}), {}, {415}, id="no_media_type"),
    pytest.param(
        PREDICT,
        b"instances=" + LONG_TEXT.encode(),
        {"Content-Type": "application/x-www-form-urlencoded"},
        {415},
        id="form_media_type",
    ),
    pytest.param(
        PREDICT,
        b"a,b\r\nx\ry," + LONG_TEXT.encode() + b'\n"',
        CSV,
        {400, 422},
        id="csv_bare_cr",
    ),
    pytest.param(
        PREDICT,
        b"colour,size\n" + LONG_TEXT.encode() + b",1\n",
        CSV,
        {422},
        id="csv_wrong_columns",
    ),
    pytest.param(
        "/invocations",
        _json({"instances": [ROW], "inputs": [ROW]}),
        JSON,
        {400},  # MLflow's scoring protocol answers 400 to input it cannot score
        id="mlflow_two_formats",
    ),
    pytest.param(
        INFER,
        _json({"inputs": [{"name": "x", "shape": [3, 4], "datatype": "FP64", "data": ROW}]}),
        JSON,
        {400},
        id="v2_shape_mismatch",
    ),
    pytest.param(
        INFER,
        b'{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [NaN, 1, 2, 3]}]}',
        JSON,
        {422},
        id="v2_nan",
    ),
    # A version that is no number is refused before the registry is asked: nothing moves.
    pytest.param(
        "/v1/models/iris_it/aliases/champion",
        _json({"version": LONG_TEXT}),
        JSON,
        {422},
        id="alias_bad_version",
    ),
]


def _raw_call(
    stack: Stack, path: str, raw: bytes, headers: dict[str, str], chunked: bool = False
) -> tuple[int, str]:
    """POST `raw` exactly as given (urllib would fix up what a hostile client sends), with the
    admin key; chunked, the server learns the body's size only by reading it."""
    connection = http.client.HTTPConnection(
        stack.settings.serve_host, stack.settings.serve_port, timeout=120
    )
    try:
        all_headers = {"Authorization": f"Bearer {stack.admin_key}", **headers}
        if chunked:
            connection.putrequest("POST", path)
            for k, v in {**all_headers, "Transfer-Encoding": "chunked"}.items():
                connection.putheader(k, v)
            connection.endheaders()
            try:
                for start in range(0, len(raw), 65536):
                    part = raw[start : start + 65536]
                    connection.send(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                connection.send(b"0\r\n\r\n")
            except OSError:
                pass  # the server may answer 413 and close before reading everything
        else:
            connection.request("POST", path, body=raw, headers=all_headers)
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


def _assert_refused_cleanly(status: int, text: str, raw: bytes, accepted: set[int]) -> None:
    assert status in accepted, (status, text[:300])
    assert echo_problem(text, raw) is None, text[:300]
    assert LONG_TEXT not in text, text[:300]


@pytest.mark.parametrize(("path", "raw", "headers", "accepted"), HOSTILE)
def test_hostile_input_is_refused_without_echo_or_traceback(
    serving: Stack, path: str, raw: bytes, headers: dict[str, str], accepted: set[int]
) -> None:
    status, text = _raw_call(serving, path, raw, headers)
    _assert_refused_cleanly(status, text, raw, accepted)


@pytest.mark.parametrize("chunked", [False, True], ids=["huge_body", "huge_body_chunked"])
def test_a_body_over_the_limit_is_413(serving: Stack, chunked: bool) -> None:
    deployed = serving.serve_config(["iris_it"])["applications"][0]["args"]
    limit = AppArgs.model_validate(deployed).max_body_bytes
    raw = b'{"instances": [' + b"[1.0, 2.0, 3.0, 4.0]," * (limit // 20 + 10) + b"[1,2,3,4]]}"
    assert len(raw) > limit
    status, text = _raw_call(serving, PREDICT, raw, JSON, chunked=chunked)
    _assert_refused_cleanly(status, text, raw, {413})


def _sample_path(endpoint: Endpoint) -> str:
    # No schedule has that name: running, pausing or deleting it starts and changes nothing.
    name = "no_such_schedule" if endpoint.path.startswith("/v1/schedules/") else "iris_it"
    return endpoint.path.format(name=name, alias="champion", job_id="raysubmit_x", version="1")


def _safe_body(endpoint: Endpoint) -> Any:
    """A body for a call with the right role that starts no work and moves no alias: a version
    that does not exist for a promotion, a real row for a prediction, and a field no schema has
    for anything else (jobs, benchmarks, schedules), whose 422 proves the key was accepted."""
    if endpoint.body is None:
        return None
    if endpoint.body is AliasRequest:
        return {"version": "999999"}
    if endpoint.body in (PredictRequest, MlflowRequest):
        return {"instances": [RECORD]}
    return {"unknown_field": 1}


def test_auth_matrix_on_every_protected_route(serving: Stack) -> None:
    checked = 0
    for endpoint in ENDPOINTS:
        if endpoint.role is None:
            continue
        path = _sample_path(endpoint)
        status, _, headers = serving.http(endpoint.method, path, key=None)
        assert status == 401, (endpoint.method, path)
        assert headers.get("WWW-Authenticate") == "Bearer"
        assert (
            serving.http(
                endpoint.method, path, key=None, headers={"Authorization": "Bearer wrong"}
            )[0]
            == 401
        )
        if endpoint.role == "admin":
            assert serving.http(endpoint.method, path, key="predict")[0] == 403, path
        status, body, _ = serving.http(
            endpoint.method, path, _safe_body(endpoint), key=endpoint.role
        )
        assert status not in (401, 403) and status < 500, (endpoint.method, path, status, body)
        checked += 1
    assert checked >= 20
    basic = base64.b64encode(f"any:{serving.predict_key}".encode()).decode()
    assert serving.http("GET", "/v1/whoami", key=None, headers={"Authorization": f"Basic {basic}"})[
        1
    ] == {"role": "predict"}


def _ray_status(url: str, token: str | None) -> int:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.parametrize("path", RAY_APIS)
def test_ray_apis_refuse_requests_without_rays_token(serving: Stack, path: str) -> None:
    url = serving.settings.ray_dashboard_url + path
    assert _ray_status(url, None) in (401, 403)
    assert _ray_status(url, "not-the-token") in (401, 403)
    token = ray_token()
    assert token, "the stack runs without a Ray token"
    assert _ray_status(url, token) == 200


def test_nothing_but_loopback_listens(serving: Stack) -> None:
    """Every listening socket of the stack (Ray head, its workers and replicas, MLflow) is on
    127.0.0.1 in the default setup, the Serve ingress included."""
    rows = stack_module.listening(serving.settings)
    listening = {row["port"]: row["address"] for row in rows}
    settings = serving.settings
    for port in (settings.serve_port, settings.ray_gcs_port, settings.ray_dashboard_port,
                 settings.mlflow_port):  # fmt: skip
        assert port in listening, f"port {port} is not among the stack's listeners {listening}"
    # Serve's own HTTP listeners sit in the stack's block after the Serve port (bound with
    # SO_REUSEPORT, Ray's shared defaults would mix stacks): ingress replicas, fallback proxy.
    ingress = set(listening) & set(range(settings.serve_port + 1, settings.serve_port + 17))
    assert ingress, f"no ingress replica listens next to port {settings.serve_port}: {listening}"
    assert settings.serve_port + 17 in listening, f"no fallback proxy: {listening}"
    exposed = [row for row in rows if row["address"] != "127.0.0.1"]
    assert not exposed, f"listening beyond loopback (address, port, process, pid): {exposed}"


# --- keys that change without a redeploy, their rate limits, the audit trail --------------------
CALLS = 12
"""Calls in a row that must all agree: HAProxy spreads them over every Ingress replica."""


def _whoami(stack: Stack, key: str) -> list[int]:
    bearer = {"Authorization": f"Bearer {key}"}
    return [stack.http("GET", "/v1/whoami", key=None, headers=bearer)[0] for _ in range(CALLS)]


def _keys(stack: Stack, *args: str) -> str:
    return stack.run(str(BIN / "python"), "-m", "rayline.stack", "keys", *args).stdout.strip()


def test_a_key_added_or_revoked_with_the_cli_counts_on_every_replica_without_a_redeploy(
    serving: Stack,
) -> None:
    key = _keys(serving, "add", "--role", "predict", "--name", "it-rotation")
    assert key_id(key) in _keys(serving, "list") and key not in _keys(serving, "list")
    wait_until(lambda: set(_whoami(serving, key)) == {200}, 60, "every replica to accept the key")

    _keys(serving, "revoke", key_id(key))
    revoked_at = time.monotonic()

    def refused() -> float:
        statuses = _whoami(serving, key)
        if set(statuses) != {401}:
            raise NotYet(statuses)
        return time.monotonic() - revoked_at

    # The figure `make chaos` reports as key_revocation_s; within KEYS_REFRESH_S by design.
    print(f"key_revocation_s={wait_until(refused, 60, 'every replica to refuse the key'):.2f}")
    assert set(_whoami(serving, serving.predict_key)) == {200}  # the other keys still work
    actions = serving.api("GET", f"/v1/audit?key_id={key_id(key)}")[1]["entries"]
    assert actions == []  # a predict key did nothing an admin does
    changes = [
        (e["action"], e["target"]) for e in serving.api("GET", "/v1/audit?limit=200")[1]["entries"]
    ]
    assert ("keys_revoke", key_id(key)) in changes and ("keys_add", key_id(key)) in changes


def test_a_key_over_its_rate_limit_gets_429_with_retry_after(serving: Stack) -> None:
    key = _keys(serving, "add", "--role", "predict", "--rate", "0.01", "--burst", "1")
    bearer = {"Authorization": f"Bearer {key}"}

    def limited() -> tuple[int, Any, Any]:
        # Until every replica knows the key, it is a 401; then each replica lets one call by.
        status, body, headers = serving.http("GET", "/v1/whoami", key=None, headers=bearer)
        if status != 429:
            raise NotYet(status)
        return status, body, headers

    _status, body, headers = wait_until(limited, 60, "the key's bucket to be empty")
    assert body == {"detail": "this key's rate limit is 0.01 requests/s"}
    assert 90 <= int(headers["Retry-After"]) <= 100  # one token at 0.01/s
    assert set(_whoami(serving, serving.predict_key)) == {200}  # a key without a limit
    _keys(serving, "revoke", key_id(key))


def test_a_promotion_is_in_the_audit_trail_under_the_admin_key_id(serving: Stack) -> None:
    versions = serving.api("GET", "/v1/models/iris_it/versions")[1]["versions"]
    version = versions[0]["version"]
    status, _ = serving.api("POST", "/v1/models/iris_it/aliases/audited", {"version": version})
    assert status == 200
    [entry] = serving.api("GET", "/v1/audit?action=set_alias&limit=1")[1]["entries"]
    assert entry["target"] == "/v1/models/iris_it/aliases/audited"
    assert (entry["key_id"], entry["outcome"], entry["status"]) == (
        key_id(serving.admin_key),
        "ok",
        200,
    )
    assert entry["detail"].startswith(f"version {version}, was ")
