"""The chaos suite's request-level checks: fuzzing from /openapi.json, hostile inputs, the auth
matrix, Ray's token on its own APIs, and what the stack listens on."""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import multiprocessing
import re
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from bench.chaos_env import ChaosStack
from rayline import stack as stack_module

EXCLUDED = {("POST", "/v1/jobs"), ("POST", "/v1/benchmarks")}
"""Operations that start real work (a training or benchmark job); they have their own tests."""
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|File \"/[^\"]+\", line \d+")
IDENTIFIER_KEYS = frozenset({"name", "columns"})
"""Body fields that name columns or tensors: an error that names the field may repeat them."""


# --- pure helpers (unit-tested) -----------------------------------------------------------
def echoed_values(body: Any, min_length: int = 12) -> list[str]:
    """String values in a request body long enough that finding one in an error is an echo;
    dict keys and identifier fields are names an error may legitimately repeat."""
    found: list[str] = []

    def walk(value: Any, key: str | None) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, str(k))
        elif isinstance(value, list):
            for item in value:
                walk(item, key)
        elif isinstance(value, str) and len(value) >= min_length and key not in IDENTIFIER_KEYS:
            found.append(value)

    if isinstance(body, (str, bytes)):
        text = body.decode(errors="replace") if isinstance(body, bytes) else body
        if len(text) >= min_length:
            found.append(text[:200])
    else:
        walk(body, None)
    return found


def echo_problem(response_text: str, request_body: Any) -> str | None:
    """Why an error response leaks: a traceback, or a value of the request; None if clean."""
    if TRACEBACK.search(response_text):
        return "traceback"
    for value in echoed_values(request_body):
        if value in response_text:
            return "echoes the request"
    return None


# --- fuzzing --------------------------------------------------------------------------------
def _fuzz_worker(args: tuple[str, str, str, int, int]) -> dict[str, Any]:
    """Fuzz one operation in positive and negative mode (runs in a child process)."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings

    url, label, key, positive, negative = args
    schema = schemathesis.openapi.from_url(url + "/openapi.json")
    method, path = label.split(" ", 1)
    operation = schema[path][method]
    statuses: Counter[int] = Counter()
    server_errors: list[dict[str, Any]] = []
    echoes: list[dict[str, Any]] = []
    unavailable: list[dict[str, Any]] = []
    errors: list[str] = []
    started = time.monotonic()

    def make_test(mode: Any) -> Any:
        def check(case: Any) -> None:
            try:
                response = case.call(headers={"Authorization": f"Bearer {key}"}, timeout=30)
            except Exception as exc:  # a dropped connection is a finding, not a crash
                statuses[0] += 1
                server_errors.append({"mode": mode.value, "error": type(exc).__name__})
                return
            status = response.status_code
            statuses[status] += 1
            text = response.text[:20000]
            sample = {"mode": mode.value, "status": status, "detail": text[:200]}
            if status == 503:
                unavailable.append(sample)
            elif status >= 500:
                server_errors.append(sample)
            if status >= 400:
                problem = echo_problem(text, getattr(case, "body", None))
                if problem:
                    echoes.append({**sample, "problem": problem})

        return given(case=operation.as_strategy(generation_mode=mode))(check)

    for mode, examples in (
        (schemathesis.GenerationMode.POSITIVE, positive),
        (schemathesis.GenerationMode.NEGATIVE, negative),
    ):
        run = settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )(make_test(mode))
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # Hypothesis's seed hints
                run()
        except Exception as exc:  # Unsatisfiable: nothing to negate on a parameterless route
            errors.append(f"{mode.value}: {type(exc).__name__}: {str(exc)[:200]}")
    return {
        "operation": label,
        "examples": sum(statuses.values()),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "server_errors": len(server_errors),
        "server_error_samples": server_errors[:5],
        "unavailable_503": len(unavailable),
        "unavailable_samples": unavailable[:3],
        "echoes": len(echoes),
        "echo_samples": echoes[:5],
        "generation_notes": errors,
        "seconds": round(time.monotonic() - started, 1),
    }


def fuzz(stack: ChaosStack, examples: int, processes: int = 4) -> dict[str, Any]:
    """Every operation of /openapi.json but EXCLUDED: `examples` positive and as many negative
    (schema-violating) cases each, spread over a few processes."""
    document = json.loads(urllib.request.urlopen(stack.url + "/openapi.json", timeout=30).read())
    labels = [
        f"{method.upper()} {path}"
        for path, methods in document["paths"].items()
        for method in methods
        if (method.upper(), path) not in EXCLUDED
    ]
    jobs = [(stack.url, label, stack.admin_key, examples, examples) for label in labels]
    started = time.monotonic()
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        results = pool.map(_fuzz_worker, jobs, chunksize=1)
    return {
        "operations": len(results),
        "excluded": sorted(f"{m} {p}" for m, p in EXCLUDED),
        "examples_per_mode": examples,
        "requests": sum(r["examples"] for r in results),
        "fuzz_5xx": sum(r["server_errors"] for r in results),
        "fuzz_503": sum(r["unavailable_503"] for r in results),
        "error_echo": sum(r["echoes"] for r in results),
        "min_examples_with_inputs": min(
            (r["examples"] for r in results if r["examples"] > 2), default=0
        ),
        "seconds": round(time.monotonic() - started, 1),
        "by_operation": results,
    }


# --- hostile inputs -------------------------------------------------------------------------
ROW = [5.1, 3.5, 1.4, 0.2]
COLUMNS = ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]
LONG_TEXT = "x-secret-payload-" + "y" * 40


def _nested(depth: int) -> bytes:
    return b'{"instances": ' + b"[" * depth + b"1" + b"]" * depth + b"}"


def bad_inputs(max_body_bytes: int) -> list[tuple[str, str, bytes, dict[str, str], set[int]]]:
    """(name, path, raw body, headers, accepted statuses) of every hostile input tried."""
    json_type = {"Content-Type": "application/json"}
    predict = "/v1/models/chaos_iris/predict"
    record = dict(zip(COLUMNS, ROW, strict=True))

    def body(value: Any) -> bytes:
        return json.dumps(value).encode()

    return [
        ("nan", predict, b'{"instances": [[NaN, 3.5, 1.4, 0.2]]}', json_type, {422}),
        (
            "infinity",
            predict,
            b'{"instances": [[Infinity, 3.5, 1.4, -Infinity]]}',
            json_type,
            {422},
        ),
        (
            "nan_in_record",
            predict,
            b'{"instances": [{"sepal_length_cm": NaN, "sepal_width_cm": 3.5, '
            b'"petal_length_cm": 1.4, "petal_width_cm": 0.2}]}',
            json_type,
            {422},
        ),
        ("huge_float", predict, body({"instances": [[1e308, 3.5, 1.4, 0.2]]}), json_type, {422}),
        ("float_overflow", predict, b'{"instances": [[1e999, 3.5, 1.4, 0.2]]}', json_type, {422}),
        (
            "huge_int_400_digits",
            predict,
            b'{"instances": [[' + b"9" * 400 + b", 3.5, 1.4, 0.2]]}",
            json_type,
            {422},
        ),
        (
            "huge_int_5000_digits",
            predict,
            b'{"instances": [[' + b"9" * 5000 + b", 3.5, 1.4, 0.2]]}",
            json_type,
            {400, 422},
        ),
        (
            "string_value",
            predict,
            body({"instances": [[LONG_TEXT, 3.5, 1.4, 0.2]]}),
            json_type,
            {422},
        ),
        ("bool_value", predict, body({"instances": [[True, 3.5, 1.4, 0.2]]}), json_type, {422}),
        ("null_value", predict, body({"instances": [[None, 3.5, 1.4, 0.2]]}), json_type, {422}),
        ("instances_not_list", predict, body({"instances": LONG_TEXT}), json_type, {422}),
        ("body_not_object", predict, body([LONG_TEXT]), json_type, {422}),
        ("empty_instances", predict, body({"instances": []}), json_type, {422}),
        (
            "missing_column",
            predict,
            body({"instances": [{k: v for k, v in record.items() if k != "petal_width_cm"}]}),
            json_type,
            {422},
        ),
        (
            "extra_column",
            predict,
            body({"instances": [{**record, "colour": LONG_TEXT}]}),
            json_type,
            {422},
        ),
        ("short_row", predict, body({"instances": [[1.0, 2.0]]}), json_type, {422}),
        ("ragged_rows", predict, body({"instances": [ROW, [1.0]]}), json_type, {422}),
        (
            "extra_field",
            predict,
            body({"instances": [ROW], "explain": LONG_TEXT}),
            json_type,
            {422},
        ),
        ("deep_nesting_10000", predict, _nested(10_000), json_type, {400, 422}),
        ("deep_nesting_900", predict, _nested(900), json_type, {400, 422}),
        ("too_many_rows", predict, body({"instances": [ROW] * 10_001}), json_type, {422}),
        (
            "huge_body",
            predict,
            b'{"instances": ['
            + b"[1.0, 2.0, 3.0, 4.0]," * (max_body_bytes // 20 + 10)
            + b"[1,2,3,4]]}",
            json_type,
            {413},
        ),
        (
            "invalid_json",
            predict,
            b'{"instances": [[1.0, 2.0' + LONG_TEXT.encode(),
            json_type,
            {400},
        ),
        ("not_utf8", predict, b'{"instances": [["\xff\xfe", 1, 2, 3]]}', json_type, {400}),
        (
            "xml_media_type",
            predict,
            b"<instances>" + LONG_TEXT.encode() + b"</instances>",
            {"Content-Type": "application/xml"},
            {415},
        ),
        ("no_media_type", predict, body({"instances": [ROW]}), {}, {415}),
        (
            "form_media_type",
            predict,
            b"instances=" + LONG_TEXT.encode(),
            {"Content-Type": "application/x-www-form-urlencoded"},
            {415},
        ),
        (
            "csv_bare_cr",
            predict,
            b"a,b\r\nx\ry," + LONG_TEXT.encode() + b'\n"',
            {"Content-Type": "text/csv"},
            {400, 422},
        ),
        (
            "csv_wrong_columns",
            predict,
            b"colour,size\n" + LONG_TEXT.encode() + b",1\n",
            {"Content-Type": "text/csv"},
            {422},
        ),
        (
            "mlflow_two_formats",
            "/invocations",
            body({"instances": [ROW], "inputs": [ROW]}),
            json_type,
            {422},
        ),
        (
            "v2_shape_mismatch",
            "/v2/models/chaos_iris/infer",
            body({"inputs": [{"name": "x", "shape": [3, 4], "datatype": "FP64", "data": ROW}]}),
            json_type,
            {422},
        ),
        (
            "v2_nan",
            "/v2/models/chaos_iris/infer",
            b'{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", '
            b'"data": [NaN, 1, 2, 3]}]}',
            json_type,
            {422},
        ),
        (
            "alias_bad_version",
            "/v1/models/chaos_iris/aliases/champion",
            body({"version": LONG_TEXT}),
            json_type,
            {422},
        ),
    ]


def _raw_call(
    stack: ChaosStack, path: str, raw: bytes, headers: dict[str, str], chunked: bool = False
) -> tuple[int, str, dict[str, str]]:
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
        return (
            response.status,
            response.read().decode(errors="replace"),
            dict(response.getheaders()),
        )
    finally:
        connection.close()


def hostile_inputs(stack: ChaosStack, max_body_bytes: int) -> dict[str, Any]:
    """Each hostile input once (plus the huge body chunked): status as expected, no echo."""
    results = []
    cases = bad_inputs(max_body_bytes)
    huge = next(c for c in cases if c[0] == "huge_body")
    for name, path, raw, headers, accepted in [*cases, ("huge_body_chunked", *huge[1:])]:
        started = time.monotonic()
        try:
            status, text, _ = _raw_call(
                stack, path, raw, headers, chunked=name == "huge_body_chunked"
            )
        except OSError as exc:
            status, text = 0, type(exc).__name__
        problem = echo_problem(text, raw) if status >= 400 else None
        if problem is None and LONG_TEXT in text:
            problem = "echoes the request"
        results.append(
            {
                "case": name,
                "status": status,
                "expected": sorted(accepted),
                "ok": status in accepted and problem is None,
                "echo": problem,
                "detail": text[:160],
                "seconds": round(time.monotonic() - started, 3),
            }
        )
    return {
        "cases": len(results),
        "failures": sum(not r["ok"] for r in results),
        "error_echo": sum(r["echo"] is not None for r in results),
        "results": results,
    }


# --- auth -------------------------------------------------------------------------------
def _sample_path(path: str) -> str:
    return path.format(name="chaos_iris", alias="canary", job_id="raysubmit_chaos")


def auth_matrix(stack: ChaosStack) -> dict[str, Any]:
    """For every route with x-role: 401 without a key, 401 with an unknown one, 403 for a
    predict key on admin routes, and neither 401 nor 403 with a key of the right role."""
    document = json.loads(urllib.request.urlopen(stack.url + "/openapi.json", timeout=30).read())
    rows = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            role = operation.get("x-role")
            if role is None:
                continue
            method_upper = method.upper()
            target = _sample_path(path)
            # A right-role call must not start work: job and benchmark submissions get a body
            # that fails validation (422 proves auth passed), promotions a version that
            # does not exist.
            if (method_upper, path) in EXCLUDED:
                body: Any = {"unknown_field": 1}
            elif "aliases" in path:
                body = {"version": "999999"}
            elif method_upper == "POST":
                body = {"instances": [ROW]}
            else:
                body = None
            calls = {
                "no_key": stack.http(method_upper, target, body, key=None)[0],
                "unknown_key": stack.http(
                    method_upper, target, body, key=None, headers={"Authorization": "Bearer x"}
                )[0],
                "right_role": stack.http(method_upper, target, body, key=role)[0],
            }
            expected = {"no_key": {401}, "unknown_key": {401}}
            if role == "admin":
                calls["predict_key"] = stack.http(method_upper, target, body, key="predict")[0]
                expected["predict_key"] = {403}
            failures = [k for k, allowed in expected.items() if calls[k] not in allowed]
            if calls["right_role"] in (401, 403) or calls["right_role"] >= 500:
                failures.append("right_role")
            rows.append(
                {"route": f"{method_upper} {path}", "role": role, **calls, "failures": failures}
            )
    return {
        "routes": len(rows),
        "auth_matrix_failures": sum(len(r["failures"]) for r in rows),
        "routes_checked": rows,
    }


def ray_token_required(stack: ChaosStack) -> dict[str, Any]:
    """Ray's dashboard and Jobs API without the token, with a wrong one, and with the right one."""
    from rayline.ray_api import ray_token

    base = stack.settings.ray_dashboard_url
    results: dict[str, Any] = {}
    for path in ("/api/jobs/", "/api/version", "/nodes?view=summary", "/api/v0/actors"):
        row = {}
        for label, token in (("none", None), ("wrong", "not-the-token"), ("right", ray_token())):
            request = urllib.request.Request(base + path)
            if token:
                request.add_header("Authorization", f"Bearer {token}")
            try:
                with urllib.request.urlopen(request, timeout=15) as response:
                    row[label] = response.status
            except urllib.error.HTTPError as exc:
                row[label] = exc.code
            except OSError as exc:
                row[label] = type(exc).__name__
        results[path] = row
    refused = all(r["none"] in (401, 403) and r["wrong"] in (401, 403) for r in results.values())
    accepted = all(r["right"] == 200 for r in results.values())
    return {"refused_without_token": refused, "accepted_with_token": accepted, "paths": results}


def listeners(stack: ChaosStack) -> dict[str, Any]:
    """The stack's listening sockets (`rayline.stack.listening`), split loopback / not."""
    rows = [
        {**row, "loopback": str(row["address"]).startswith("127.") or row["address"] == "::1"}
        for row in stack_module.listening(stack.settings)
    ]
    rows.sort(key=lambda r: (r["loopback"], r["process"], r["port"]))
    exposed = [r for r in rows if not r["loopback"]]
    return {
        "listening": len(rows),
        "loopback_only": len(rows) - len(exposed),
        "beyond_loopback": len(exposed),
        "beyond_loopback_by_process": dict(Counter(r["process"] for r in exposed)),
        "rows": rows,
    }


def replica_log_lines(temp_dir: str, pattern: str, limit: int = 5) -> list[str]:
    """Lines of this stack's Predictor replica logs (latest session) matching `pattern`."""
    folder = Path(temp_dir) / "session_latest" / "logs" / "serve"
    found = []
    for path in sorted(folder.glob("replica_rayline_Predictor_*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if re.search(pattern, line):
                found.append(f"{path.name}: {line.strip()[:400]}")
    return found[-limit:]
