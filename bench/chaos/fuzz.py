"""The chaos suite's long fuzz: schemathesis cases for every operation of /openapi.json, checking
that none gets a server error and no error body carries a traceback or echoes the request.

The cases follow from one seed: each operation and generation mode runs Hypothesis under a seed
derived from the phase's (`operation_seed`), so the same seed, number of examples, API document
and schemathesis and Hypothesis versions send the same cases whichever worker process runs an
operation, and a finding replays with `--seed fuzz=N`."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import multiprocessing
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
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
SAMPLES = 20
"""Findings of each kind (echo, 5xx, 503) the phase keeps with their requests, besides the
counts."""
SHOWN_CHARS = 500
"""How much of a request body or a response body a sample keeps."""

Call = Callable[[Any], Any]
"""Sends one schemathesis case; returns a response with `status_code` and `text`."""


def operation_seed(seed: int, label: str, mode: str) -> int:
    """The Hypothesis seed of one operation ("METHOD /path") in one generation mode, fixed by
    the phase's seed and independent of the process and order operations run in."""
    digest = hashlib.sha256(f"{seed}:{label}:{mode}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _shown(value: Any) -> str | None:
    """A request body as the report keeps it: JSON values as JSON text, bytes as their repr,
    cut to SHOWN_CHARS; None when the case has no body."""
    if isinstance(value, bytes):
        text = repr(value)
    elif isinstance(value, str):
        text = value
    elif value is None or isinstance(value, (dict, list, int, float, bool)):
        text = json.dumps(value, default=repr)
    else:  # schemathesis' NOT_SET: the case sends no body
        return None
    return text[:SHOWN_CHARS] + ("…" if len(text) > SHOWN_CHARS else "")


def request_of(case: Any) -> dict[str, Any]:
    """What a case sends, for a sample: method, path, query, media type and (cut) body."""
    return {
        "method": case.method.upper(),
        "path": case.formatted_path,
        "query": dict(case.query or {}),
        "media_type": case.media_type,
        "body": _shown(getattr(case, "body", None)),
    }


def run_cases(
    operation: Any, mode: Any, examples: int, seed: int, visit: Callable[[Any], None]
) -> str | None:
    """`visit` every case Hypothesis draws for `operation` in generation `mode` (up to
    `examples`), under `seed`; a note when no case could be generated, else None."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    def draw(case: Any) -> None:
        visit(case)

    test = given(case=operation.as_strategy(generation_mode=mode))(draw)
    test = settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=False,  # the seed below decides (a "ci" profile would derandomize)
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )(test)
    test = hypothesis_seed(operation_seed(seed, operation.label, mode.value))(test)
    try:
        with _without_project_constants(), contextlib.redirect_stdout(io.StringIO()):
            test()  # (stdout: Hypothesis's seed hints)
    except Exception as exc:  # Unsatisfiable: nothing to negate on a parameterless route
        return f"{mode.value}: {type(exc).__name__}: {str(exc)[:200]}"
    return None


@contextlib.contextmanager
def _without_project_constants() -> Iterator[None]:
    """Hypothesis mixes constants it finds in the source of the project's loaded modules into
    what it draws (`hypothesis.internal.conjecture.providers`): a seed's cases would change
    with any edit to a Rayline module, or with one more module imported. Without them, the
    cases follow from the seed, the API document and the schemathesis and Hypothesis versions."""
    from hypothesis.internal.conjecture import providers
    from hypothesis.internal.constants_ast import Constants

    found = getattr(providers, "_get_local_constants", None)
    if found is None:  # another Hypothesis: test_chaos's replay test says whether it matters
        yield
        return
    providers._get_local_constants = Constants
    providers.CONSTANTS_CACHE.cache.clear()  # may hold the project's, from an earlier draw
    try:
        yield
    finally:
        providers._get_local_constants = found
        providers.CONSTANTS_CACHE.cache.clear()


def cases(operation: Any, examples: int, seed: int) -> list[dict[str, Any]]:
    """The requests the fuzz sends for `operation` under `seed` (both generation modes),
    without sending them: what a seed replays."""
    import schemathesis

    found: list[dict[str, Any]] = []
    for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
        run_cases(operation, mode, examples, seed, lambda case: found.append(request_of(case)))
    return found


def fuzz_operation(operation: Any, call: Call, examples: int, seed: int) -> dict[str, Any]:
    """Send `examples` positive and as many negative cases of `operation` with `call`; count
    the statuses and keep the requests that got a 5xx, a 503 or an error that leaks."""
    import schemathesis

    statuses: Counter[int] = Counter()
    found: dict[str, list[dict[str, Any]]] = {"server_errors": [], "unavailable": [], "echoes": []}
    notes: list[str] = []
    started = time.monotonic()

    def check(case: Any, mode: str) -> None:
        request = request_of(case)
        try:
            response = call(case)
        except Exception as exc:  # a dropped connection is a finding, not a crash
            statuses[0] += 1
            error = f"{type(exc).__name__}: {exc}"[:200]
            found["server_errors"].append({"mode": mode, "request": request, "error": error})
            return
        status = response.status_code
        statuses[status] += 1
        text = response.text[:20000]
        sample = {
            "mode": mode,
            "request": request,
            "status": status,
            "response": text[:SHOWN_CHARS],
        }
        if status == 503:
            found["unavailable"].append(sample)
        elif status >= 500:
            found["server_errors"].append(sample)
        if status >= 400:
            problem = echo_problem(text, getattr(case, "body", None))
            if problem:
                found["echoes"].append({**sample, "problem": problem})

    for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
        note = run_cases(operation, mode, examples, seed, functools.partial(check, mode=mode.value))
        if note:
            notes.append(note)
    return {
        "operation": operation.label,
        "examples": sum(statuses.values()),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "server_errors": len(found["server_errors"]),
        "server_error_samples": found["server_errors"][:SAMPLES],
        "unavailable_503": len(found["unavailable"]),
        "unavailable_samples": found["unavailable"][:SAMPLES],
        "echoes": len(found["echoes"]),
        "echo_samples": found["echoes"][:SAMPLES],
        "generation_notes": notes,
        "seconds": round(time.monotonic() - started, 1),
    }


def _fuzz_worker(args: tuple[str, str, str, int, int]) -> dict[str, Any]:
    """Fuzz one operation of the stack at `url` (runs in a child process)."""
    import schemathesis

    url, label, key, examples, seed = args
    schema = schemathesis.openapi.from_url(url + "/openapi.json")
    method, path = label.split(" ", 1)
    headers = {"Authorization": f"Bearer {key}"}
    return fuzz_operation(
        schema[path][method], lambda case: case.call(headers=headers, timeout=30), examples, seed
    )


def collect(
    results: list[dict[str, Any]], examples: int, seed: int, seconds: float
) -> dict[str, Any]:
    """The phase's report from its operations' results: counts overall and per operation,
    and the first SAMPLES findings of each kind with the operation that found them."""

    def first(key: str) -> list[dict[str, Any]]:
        every = (dict(s, operation=r["operation"]) for r in results for s in r[key])
        return [s for _, s in zip(range(SAMPLES), every, strict=False)]

    samples = ("echo_samples", "server_error_samples", "unavailable_samples")

    return {
        "seed": seed,
        "operations": len(results),
        "excluded": sorted(f"{m} {p}" for m, p in EXCLUDED),
        "examples_per_mode": examples,
        "requests": sum(r["examples"] for r in results),
        "fuzz_5xx": sum(r["server_errors"] for r in results),
        "fuzz_503": sum(r["unavailable_503"] for r in results),
        "error_echo": sum(r["echoes"] for r in results),
        "error_echo_samples": first("echo_samples"),
        "fuzz_5xx_samples": first("server_error_samples"),
        "fuzz_503_samples": first("unavailable_samples"),
        "min_examples_with_inputs": min(
            (r["examples"] for r in results if r["examples"] > 2), default=0
        ),
        "seconds": round(seconds, 1),
        "by_operation": [{k: v for k, v in r.items() if k not in samples} for r in results],
    }


def fuzz(stack: ChaosStack, examples: int, seed: int, processes: int = 4) -> dict[str, Any]:
    """Every operation of /openapi.json but EXCLUDED: `examples` positive and as many negative
    (schema-violating) cases each, drawn under `seed`, spread over a few processes."""
    document = json.loads(urllib.request.urlopen(stack.url + "/openapi.json", timeout=30).read())
    labels = [
        f"{method.upper()} {path}"
        for path, methods in document["paths"].items()
        for method in methods
        if (method.upper(), path) not in EXCLUDED
    ]
    jobs = [(stack.url, label, stack.admin_key, examples, seed) for label in labels]
    started = time.monotonic()
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        results = pool.map(_fuzz_worker, jobs, chunksize=1)
    return collect(results, examples, seed, time.monotonic() - started)
