"""The chaos suite's long fuzz: schemathesis cases for every operation of /openapi.json, checking
that none gets a server error and no error body carries a traceback or echoes the request."""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing
import time
import urllib.request
from collections import Counter
from typing import Any

from bench.chaos.env import ChaosStack
from bench.chaos.leaks import echo_problem

EXCLUDED = {
    ("POST", "/v1/jobs"),
    ("POST", "/v1/benchmarks"),
    ("POST", "/v1/schedules"),
    ("PATCH", "/v1/schedules/{name}"),
    ("DELETE", "/v1/schedules/{name}"),
    ("POST", "/v1/schedules/{name}/run"),
    ("POST", "/v1/schedules/{name}/pause"),
    ("POST", "/v1/schedules/{name}/resume"),
}
"""Operations that start real work or change schedules (a training or benchmark job, a
schedule's runs); tests/integration has their own tests."""


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
