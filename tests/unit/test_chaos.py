"""The parts of `make chaos` that need no stack: knee detection, recovery, overload accounting,
first-attempt and retried success (against a small local server), the summary, echo detection
(and the echo the fuzz found, against the app in process), replica bookkeeping, and the seeds
that make a run's fuzz cases replayable."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import schemathesis
from aiohttp import test_utils, web
from starlette.testclient import TestClient

from bench.chaos import __main__ as chaos_main
from bench.chaos import env as chaos_env
from bench.chaos import fuzz, stores
from bench.chaos.faults import replica_changes
from bench.chaos.figures import (
    Plan,
    attempt_figures,
    build_summary,
    find_knee,
    overload_figures,
    recovery_time,
)
from bench.chaos.leaks import echo_problem, echoed_values
from bench.chaos.load import Request, Retry, open_loop, summarize, windows
from bench.chaos.seeds import Seeds
from bench.chaos.soak import SideTraffic, soak_figures
from serve_app.http.app import create_app
from tests.unit.routes.fakes import COLUMNS, PREDICT, make_context


def _step(c: int, rps: float, p99: float, mean: float = 50.0) -> dict[str, Any]:
    return {"concurrency": c, "throughput_rps": rps, "p99_ms": p99, "mean_ms": mean}


def test_knee_is_where_more_clients_stop_buying_throughput() -> None:
    steps = [
        _step(1, 20, 150),
        _step(2, 24, 190),
        _step(4, 32, 300),
        _step(8, 61, 320),
        _step(16, 79, 295, mean=203),
        _step(32, 61, 860),
        _step(64, 74, 1850),
    ]
    knee = find_knee(steps)
    assert knee["concurrency"] == 16
    assert knee["throughput_rps"] == 79
    assert knee["little_concurrency"] == pytest.approx(16.04, abs=0.01)


def test_knee_ignores_the_gentle_p99_growth_of_batching_while_throughput_rises() -> None:
    steps = [
        _step(1, 23.3, 100),
        _step(2, 29.2, 156),
        _step(4, 47.3, 152),
        _step(8, 50.3, 324),
        _step(16, 60.2, 487),
        _step(32, 89.5, 502),
        _step(64, 87.0, 1154),
    ]
    assert find_knee(steps)["concurrency"] == 32


def test_knee_stops_before_p99_blows_up_even_if_throughput_still_rises() -> None:
    steps = [_step(1, 10, 100), _step(2, 20, 110), _step(4, 30, 500), _step(8, 40, 900)]
    assert find_knee(steps)["concurrency"] == 2


def test_knee_of_a_server_that_scales_to_the_last_step_is_the_last_step() -> None:
    steps = [_step(c, 10.0 * c, 100) for c in (1, 2, 4, 8)]
    assert find_knee(steps)["concurrency"] == 8


def test_knee_without_any_success_is_reported_not_invented() -> None:
    knee = find_knee([_step(1, 0, float("nan")), _step(2, 0, float("nan"))])
    assert knee["concurrency"] is None and knee["throughput_rps"] is None


def _point(t: float, p99: float, ok: int = 10, requests: int = 10) -> dict[str, Any]:
    return {"t": t, "p99_ms": p99, "ok": ok, "requests": requests}


def test_recovery_is_the_first_of_consecutive_good_windows_after_the_overload() -> None:
    points = [
        _point(100, 9000),
        _point(102, 3000),
        _point(104, 150),  # one good window alone is not recovery
        _point(106, 2500),
        _point(108, 180),
        _point(110, 170),
        _point(112, 160),
    ]
    assert recovery_time(points, since_s=100, limit_ms=400) == 8.0


def test_recovery_needs_the_requests_to_succeed_and_may_never_come() -> None:
    points = [_point(0, 100, ok=9), _point(2, 100, ok=8), _point(4, 900)]
    assert recovery_time(points, since_s=0, limit_ms=400) is None
    assert recovery_time([_point(0, 100), _point(2, 100)], since_s=0, limit_ms=400) == 0.0


def test_overload_counts_everything_but_200_429_503_and_bare_refusals() -> None:
    requests = [
        Request(0, 0.1, [200]),
        Request(0, 0.1, [503]),
        Request(0, 0.1, [429]),
        Request(0, 0.1, [503], refusals_without_retry_after=1),
        Request(0, 60, [408]),
        Request(0, 90, [0]),
        Request(0, 0.1, [500]),
    ]
    figures = overload_figures(requests)
    assert figures["overload_other_errors"] == 4  # 408, transport error, 500, bare 503
    assert figures["refusals"] == 3
    assert figures["statuses"] == {"200": 1, "503": 2, "429": 1, "408": 1, "0": 1, "500": 1}


def test_summary_of_a_clean_run_holds_every_target() -> None:
    parts: dict[str, Any] = {
        "load": {
            "knee": {"concurrency": 16, "throughput_rps": 80.0},
            "soak": {
                "rate_rps": 56.0,
                "seconds": 600.0,
                "soak_5xx": 0,
                "p99_ms": 300.0,
                "promotions": [{"t": 60.0, "version": "1", "status": 200}],
                "training_job": {"registered": True},
                "replica_restarts": 0,
                "soak_memory_growth_pct": 1.5,
            },
            "overload": {"rate_rps": 160.0, "statuses": {"200": 5}, "overload_other_errors": 0},
            "recovery": {"recovery_s": 6.0},
        },
        "ingress_kill": {"kills_done": 6, "success_rate": 1.0},
        "killed_job": {"killed_job_clean": True, "run_failed_after_s": 14.0},
        "mlflow_outage": {
            "success_rate": 1.0,
            "registry_statuses": [503],
            "registry_max_s": 0.1,
            "registry_fast_503": True,
            "recovered": True,
        },
        "promotions": {"concurrent_promotions_ok": True},
        "fuzz": {
            "operations": 28,
            "requests": 14000,
            "fuzz_5xx": 0,
            "fuzz_503": 2,
            "error_echo": 0,
        },
        "key_revocation": {"key_revocation_s": 1.4},
        "node_kill": {
            "success_rate": 1.0,
            "first_attempt_success_rate": 1.0,
            "replicas_rescheduled": True,
            "node_dead_s": 16.0,
            "rescheduled_s": 21.0,
        },
        "gcs_kill": {
            "success_rate": 0.9995,
            "first_attempt_success_rate": 0.9995,
            "gcs_recovery_s": 38.0,
            "state_kept": True,
            "serve_recovered": True,
        },
        "stores": dict.fromkeys(stores.TESTS, True),
    }
    summary = build_summary(parts)
    assert summary["targets_held"] == summary["targets_total"] == 25
    assert summary["capacity_knee_concurrency"] == 16
    assert summary["fuzz_503"] == 2 and summary["error_echo"] == 0
    assert summary["parts_with_errors"] == []


def test_summary_holds_the_cluster_faults_to_their_targets() -> None:
    parts = {
        "key_revocation": {"key_revocation_s": 5.01},
        "node_kill": {"success_rate": 0.9989, "replicas_rescheduled": False},
        "gcs_kill": {
            "success_rate": 0.999,
            "gcs_recovery_s": 60.0,
            "state_kept": False,
            "serve_recovered": True,
        },
    }
    targets = build_summary(parts)["targets"]
    assert targets["key_revocation_s"] is False  # over 5 s
    assert targets["node_kill_success_rate"] is False  # under 99.9 %
    assert targets["node_kill_replicas_rescheduled"] is False
    assert targets["gcs_kill_success_rate"] is True  # 99.9 % exactly holds
    assert targets["gcs_recovery_s"] is True  # 60 s exactly holds
    assert targets["gcs_state_kept"] is False
    assert targets["gcs_serve_recovered"] is True
    missing = build_summary({"gcs_kill": {"error": "GCS fault tolerance is off"}})
    assert missing["gcs_recovery_s"] is None and missing["targets"]["gcs_recovery_s"] is False
    assert missing["parts_with_errors"] == ["gcs_kill"]


def test_summary_fails_targets_it_has_no_figures_for_and_names_broken_parts() -> None:
    summary = build_summary(
        {"load": {"error": "no capacity knee", "soak": {"soak_5xx": 3}}, "fuzz": {}}
    )
    assert summary["targets"]["soak_5xx"] is False
    assert summary["targets"]["concurrent_promotions_ok"] is False
    assert summary["targets"]["recovery_s"] is False
    assert summary["error_echo"] is None
    assert summary["parts_with_errors"] == ["load"]


def test_echo_detection_finds_values_and_tracebacks_but_not_field_names() -> None:
    body = {
        "instances": [{"a-long-column-name": "a-secret-value-here"}],
        "inputs": [{"name": "a-long-tensor-name", "data": [1]}],
    }
    assert echoed_values(body) == ["a-secret-value-here"]
    assert echo_problem('{"detail": "column a-secret-value-here is bad"}', body) == (
        "echoes the request"
    )
    assert echo_problem('{"detail": "unknown column(s): a-long-column-name"}', body) is None
    assert echo_problem('{"detail": "input a-long-tensor-name: bad shape"}', body) is None
    trace = 'Traceback (most recent call last):\n  File "/x/y.py", line 3, in f'
    assert echo_problem(trace, None) == "traceback"
    assert echo_problem("body larger than 5000000 bytes", b"x" * 6_000_000) is None
    quoted = {"id": 'say "hello" again'}  # as a JSON encoder writes it back
    assert echo_problem(json.dumps({"error": f"id {quoted['id']}"}), quoted) == (
        "echoes the request"
    )


def test_retry_backoff_grows_is_capped_and_honours_retry_after() -> None:
    retry = Retry(attempts=5, base_s=0.5, cap_s=4.0)
    assert 0.4 <= retry.delay(1, None) <= 0.6
    assert 3.2 <= retry.delay(6, None) <= 4.8
    assert 2.4 <= retry.delay(1, "3") <= 3.6
    assert retry.delay(1, "3600") <= 4.8
    assert retry.delay(1, "Wed, 21 Oct 2015") <= 0.6
    seeded = [retry.delay(2, None, random.Random("7/1")) for _ in range(2)]
    assert seeded[0] == seeded[1] != retry.delay(2, None, random.Random("7/2"))


def test_windows_and_summaries_count_successes_by_start_time() -> None:
    requests = [Request(0.5, 0.1, [200]), Request(1.5, 0.3, [503, 200]), Request(1.7, 1.0, [503])]
    points = windows(requests, 0, 2, 1)
    assert [(p["requests"], p["ok"]) for p in points] == [(1, 1), (2, 1)]
    summary = summarize(requests, 2.0)
    assert summary["ok"] == 2 and summary["throughput_rps"] == 1.0


def _actor(state: str, rss: int | None, death: str = "") -> dict[str, Any]:
    return {"pid": 1, "state": state, "rss_bytes": rss, "death": death}


def test_replica_changes_tell_crashes_from_autoscaling_and_measure_survivors() -> None:
    before = {
        "Ingress": {"a": _actor("ALIVE", 100), "b": _actor("ALIVE", 100)},
        "Metrics": {"i": _actor("ALIVE", 200)},
    }
    after = {
        "Ingress": {
            "a": _actor("ALIVE", 110),
            "b": _actor("DEAD", None, "The actor is dead because it was killed by `ray.kill`."),
            "c": _actor("ALIVE", 100),
        },
        "Metrics": {"i": _actor("DEAD", None, "its worker process has died")},
    }
    changes = replica_changes(before, after)
    assert changes["replica_restarts"] == 1 and changes["crashed"] == ["Metrics:i"]
    assert changes["stopped_by_serve"] == ["Ingress:b"]
    assert changes["added_by_serve"] == ["Ingress:c"]
    assert changes["memory_growth_pct"] == 10.0


def test_the_soak_counts_every_server_failure_and_measures_memory_after_the_warmup() -> None:
    start = {"Ingress": {"a": _actor("ALIVE", 100), "b": _actor("ALIVE", 100)}}
    warm = {"Ingress": {"a": _actor("ALIVE", 150), "b": _actor("ALIVE", 150)}}
    end = {
        "Ingress": {
            "a": _actor("ALIVE", 153),
            "b": _actor("DEAD", None, "its worker process has died"),
        }
    }
    side = SideTraffic(
        registry_reads=[(1.0, 200), (3.0, 503), (5.0, 0)],
        promotions=[(60.0, "1", 200), (120.0, "2", 500)],
        training={"registered": True},
        snapshots={"start": start, "warm": warm, "end": end},
    )
    predictions = [Request(0, 0.01, [200]), Request(0, 0.01, [502]), Request(0, 90, [0])]
    figures = soak_figures(predictions, side, Plan())
    # A 502 and a timeout among the predictions, a 503 and a dropped connection among the
    # reads, a 500 promotion.
    assert figures["soak_5xx"] == 5
    assert figures["prediction_statuses"] == {"0": 1, "200": 1, "502": 1}
    assert figures["replica_restarts"] == 1 and figures["crashed"] == ["Ingress:b"]
    # Growth from the warm-up to the end, of the replica that lived through both: 150 → 153.
    assert figures["soak_memory_growth_pct"] == 2.0
    assert [p["status"] for p in figures["promotions"]] == [200, 500]


# --- first attempts and retries ----------------------------------------------------------------
def _first_hit_refused(retry: Retry | None) -> list[Request]:
    """Four arrivals against a local server that answers its first hit 503 (Retry-After: 0)
    and every later one 200: the load client's records."""

    async def scenario() -> list[Request]:
        hits = 0

        async def predict(request: web.Request) -> web.Response:
            nonlocal hits
            hits += 1
            if hits == 1:
                return web.Response(status=503, headers={"Retry-After": "0"})
            return web.json_response({"predictions": [0]})

        app = web.Application()
        app.router.add_post("/predict", predict)
        async with test_utils.TestServer(app, host="127.0.0.1") as server:
            url = str(server.make_url("/predict"))
            run = await open_loop(url, b"{}", {}, [(20, 0.2)], retry=retry, drain_s=10, seed=1)
        return sorted(run.requests, key=lambda r: r.start)

    return asyncio.run(scenario())


def test_first_attempt_success_is_reported_beside_success_after_retries() -> None:
    retried = attempt_figures(_first_hit_refused(Retry(attempts=3, base_s=0.01, cap_s=0.02)))
    assert retried["requests"] == 4
    assert retried["success_rate"] == 1.0
    assert retried["first_attempt_success_rate"] == 0.75
    assert retried["recovered_by_retry"] == 1
    assert retried["attempt_statuses"] == {"200": 4, "503": 1}
    once = attempt_figures(_first_hit_refused(None))
    assert once["success_rate"] == once["first_attempt_success_rate"] == 0.75
    assert once["recovered_by_retry"] == 0


def test_summary_shows_first_attempt_rates_next_to_the_retried_ones() -> None:
    parts = {
        "ingress_kill": {"success_rate": 1.0, "first_attempt_success_rate": 0.99964},
        "mlflow_outage": {"success_rate": 1.0, "first_attempt_success_rate": 0.9},
    }
    summary = build_summary(parts)
    assert summary["ingress_kill_success_rate"] == 1.0
    assert summary["ingress_kill_first_attempt_success_rate"] == 0.99964
    assert summary["mlflow_down_predict_success_rate"] == 1.0
    assert summary["mlflow_down_predict_first_attempt_success_rate"] == 0.9
    keys = list(summary)
    assert keys.index("ingress_kill_first_attempt_success_rate") == (
        keys.index("ingress_kill_success_rate") + 1
    )
    cluster = build_summary(
        {
            "gcs_kill": {"success_rate": 1.0, "first_attempt_success_rate": 0.998},
            "node_kill": {"success_rate": 0.999, "first_attempt_success_rate": 0.999},
        }
    )
    assert cluster["gcs_kill_first_attempt_success_rate"] == 0.998
    assert cluster["node_kill_first_attempt_success_rate"] == 0.999
    for name in ("gcs_kill", "node_kill"):
        order = list(cluster)
        assert order.index(f"{name}_first_attempt_success_rate") == (
            order.index(f"{name}_success_rate") + 1
        )


# --- seeds and the fuzz's cases ------------------------------------------------------------
@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The app's own /openapi.json (in process, on fakes) as a schemathesis schema."""
    app = create_app(make_context(tmp_path_factory.mktemp("chaos-app")))
    with TestClient(app) as client:
        document = client.get("/openapi.json").json()
    return schemathesis.openapi.from_dict(document)


@pytest.fixture
def project_module(tmp_path: Path) -> Iterator[None]:
    """A new module of "the project" with constants of its own, imported: Hypothesis mixes the
    constants of loaded project modules into what it draws."""
    (tmp_path / "chaos_edit.py").write_text(
        'EDITED = ["FP64-or-DOUBLE", "champion_v2", 987654321, -31337, 2.718281828]\n'
    )
    sys.path.insert(0, str(tmp_path))
    try:
        importlib.import_module("chaos_edit")
        yield
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("chaos_edit", None)


def _infer(schema: Any) -> Any:
    return schema["/v2/models/{name}/infer"]["POST"]


def test_a_fuzz_seed_draws_the_same_cases_again(api_schema: Any) -> None:
    infer = _infer(api_schema)
    first = fuzz.cases(infer, 25, seed=1234)
    assert len(first) == 50  # 25 valid, 25 invalid
    assert fuzz.cases(infer, 25, seed=1234) == first
    assert fuzz.cases(infer, 25, seed=1235) != first
    predict = api_schema["/predict"]["POST"]
    assert fuzz.cases(predict, 25, seed=1234) != first  # each operation has its own seed


def test_a_fuzz_seed_survives_an_edit_to_the_project(
    api_schema: Any, request: pytest.FixtureRequest
) -> None:
    infer = _infer(api_schema)
    before = fuzz.cases(infer, 25, seed=99)
    request.getfixturevalue("project_module")
    assert fuzz.cases(infer, 25, seed=99) == before


def test_seeds_are_given_for_all_phases_or_one_and_drawn_otherwise(
    capsys: pytest.CaptureFixture[str],
) -> None:
    every = Seeds.parse(["42"])
    assert every.of("fuzz") == 42 and every.of("mlflow_outage") == 42
    one = Seeds.parse(["fuzz=7"])
    assert one.of("fuzz") == 7
    drawn = one.of("mlflow_outage")
    assert one.used == {"fuzz": 7, "mlflow_outage": drawn}
    assert one.replay() == f"--seed fuzz=7 --seed mlflow_outage={drawn}"
    printed = capsys.readouterr().out
    assert "fuzz seed 7 (given" in printed and f"mlflow_outage seed {drawn} (drawn" in printed
    for wrong in ("load=3", "fuzz=x", "-1"):
        with pytest.raises(ValueError, match="--seed"):
            Seeds.parse([wrong])


def test_the_report_records_the_seed_each_phase_ran_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: dict[str, int] = {}

    def suite(
        stack: Any, plan: Any, parts: dict[str, Any], only: Any, seeds: Seeds, rate: Any
    ) -> None:
        ran["fuzz"] = seeds.of("fuzz")
        parts["fuzz"] = {"seed": ran["fuzz"], "error_echo": 0}

    monkeypatch.setattr(chaos_env, "attach", lambda: SimpleNamespace())
    monkeypatch.setattr(chaos_main, "run_suite", suite)
    output = tmp_path / "reliability.json"
    chaos_main.main(["--reuse", "--keep", "--quick", "--only", "fuzz", "--output", str(output)])
    drawn = json.loads(output.read_text())
    assert drawn["seeds"] == ran
    assert drawn["replay"] == f"python -m bench.chaos --quick --only fuzz --seed fuzz={ran['fuzz']}"
    chaos_main.main(["--reuse", "--keep", "--seed", "fuzz=5", "--output", str(output)])
    assert json.loads(output.read_text())["seeds"] == {"fuzz": 5}
    chaos_main.main(
        ["--reuse", "--keep", "--only", "fuzz", "--rate", "400", "--output", str(output)]
    )
    assert json.loads(output.read_text())["replay"].startswith(
        "python -m bench.chaos --only fuzz --rate 400 "
    )


class _Answer:
    """A response as `fuzz_operation` reads it."""

    def __init__(self, status_code: int, text: str) -> None:
        self.status_code = status_code
        self.text = text


def test_requests_whose_errors_leak_are_kept_in_the_report(api_schema: Any, tmp_path: Path) -> None:
    infer = _infer(api_schema)
    leaky = 'Traceback (most recent call last):\n  File "/srv/app.py", line 1, in infer'
    result = fuzz.fuzz_operation(infer, lambda case: _Answer(400, leaky), 15, seed=3)
    assert result["echoes"] == result["examples"] == 30
    report = fuzz.collect([result, result], 15, seed=3, seconds=1.0)
    path = tmp_path / "reliability.json"
    chaos_main.write({"parts": {"fuzz": report}}, path)
    kept = json.loads(path.read_text())["parts"]["fuzz"]
    assert kept["seed"] == 3 and kept["error_echo"] == 60
    assert len(kept["error_echo_samples"]) == fuzz.SAMPLES
    assert kept["by_operation"][0]["echoes"] == 30  # counted per operation, kept once
    assert "echo_samples" not in kept["by_operation"][0]
    sample = kept["error_echo_samples"][0]
    assert sample["operation"] == "POST /v2/models/{name}/infer"
    assert sample["problem"] == "traceback" and sample["status"] == 400
    assert sample["response"].startswith("Traceback")
    assert sample["request"]["method"] == "POST"
    assert sample["request"]["path"].startswith("/v2/models/")
    assert set(sample["request"]) == {"method", "path", "query", "media_type", "body"}
    assert fuzz.cases(infer, 15, seed=3)[0] == sample["request"]  # the seed replays it


def test_an_unknown_v2_datatype_is_refused_without_repeating_it(tmp_path: Path) -> None:
    # What the fuzz found (issue #17): schemathesis's "__not_in_enum__" came back in the error.
    for datatype in ("__not_in_enum__", "FP64-or-whatever-the-client-had"):
        body = {"inputs": [{"name": COLUMNS[0], "shape": [1], "datatype": datatype, "data": [5.1]}]}
        with TestClient(create_app(make_context(tmp_path))) as client:
            response = client.post("/v2/models/iris/infer", json=body, headers=PREDICT)
        assert response.status_code == 400
        error = response.json()["error"]
        assert error.startswith(f"input {COLUMNS[0]}: datatype must be one of BOOL, UINT8")
        assert datatype not in response.text
        assert echo_problem(response.text, body) is None


# --- the cluster faults' stack ---------------------------------------------------------------
def test_a_chaos_run_keeps_its_gcs_state_in_redis_under_a_namespace_of_its_own(
    tmp_path: Path,
) -> None:
    from rayline.stack.harness import environ
    from rayline.stack.ray_env import ray_env

    stack = chaos_env.chaos_stack(tmp_path, "rayline-chaos-0123abcd")
    assert chaos_env.gcs_fault_tolerant(stack)
    with environ(stack.variables, stack.unset):
        ray = ray_env(stack.settings)
    assert ray["RAY_REDIS_ADDRESS"] == "127.0.0.1:6379"
    # Not the namespace derived from the home (which every run in /tmp/rayline-chaos shares).
    assert ray["RAY_external_storage_namespace"] == "rayline-chaos-0123abcd"
    assert not chaos_env.gcs_fault_tolerant(chaos_env.chaos_stack(tmp_path))


def test_a_stack_left_running_is_attached_with_its_namespace_and_its_state_forgotten_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ray._private import gcs_utils

    (tmp_path / chaos_env.NAMESPACE_FILE).write_text("rayline-chaos-feed\n")
    attached = chaos_env.attach(tmp_path)
    attached.leave_environment()
    assert attached.variables["RAY_external_storage_namespace"] == "rayline-chaos-feed"
    forgotten: list[str] = []
    monkeypatch.setattr(
        gcs_utils, "cleanup_redis_storage", lambda *args: forgotten.append(args[-1])
    )
    chaos_env.forget_gcs_state(tmp_path)
    chaos_env.forget_gcs_state(tmp_path)  # the next run's start finds nothing left
    assert forgotten == ["rayline-chaos-feed"]


def test_a_node_is_every_process_naming_its_temp_dir_and_all_below_them(tmp_path: Path) -> None:
    import signal
    import subprocess
    import time

    node = tmp_path / "rl-node"
    # A "raylet" that names the temp dir, and a "worker" below it that does not.
    raylet = subprocess.Popen(["bash", "-c", f"sleep 60 & wait # {node}"])
    found: list[int] = []
    try:
        deadline = time.monotonic() + 10
        while len(found) < 2 and time.monotonic() < deadline:  # until bash has forked
            found = chaos_env.node_pids(node)
            time.sleep(0.02)
        assert raylet.pid in found and len(found) == 2
        assert chaos_env.node_pids(tmp_path / "rl-other") == []
    finally:
        for pid in found:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        raylet.kill()
        raylet.wait()


def test_the_stores_part_reads_each_tests_outcome_from_pytests_report(tmp_path: Path) -> None:
    """Every key is its own test's outcome; a failure keeps pytest's message, a test pytest
    never reported is "not run", and a key is true only for "passed"."""
    report = tmp_path / "junit.xml"
    names = [test_id.rpartition("::")[2] for test_id in stores.TESTS.values()]
    report.write_text(
        "<testsuites><testsuite>"
        f'<testcase classname="a" name="{names[0]}" time="41.26"/>'
        f'<testcase classname="a" name="{names[1]}" time="3.0">'
        '<failure message="assert 503 == 200">the old version stopped serving</failure>'
        "</testcase>"
        f'<testcase classname="b" name="{names[2]}" time="0.1">'
        '<skipped message="no loop devices"/></testcase>'
        "</testsuite></testsuites>"
    )
    seen = stores.outcomes(report)
    assert seen[names[0]] == {"outcome": "passed", "seconds": 41.3}
    assert seen[names[1]]["outcome"] == "failed"
    assert "the old version stopped serving" in seen[names[1]]["message"]
    assert seen[names[2]]["outcome"] == "skipped"
    keys = stores.keys_of(seen)
    assert keys == {
        "pg_restart_clean": True,
        "s3_outage_old_version_serves": False,
        "disk_full_clean": False,
        "backup_roundtrip_identical": False,
    }
