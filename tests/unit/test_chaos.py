"""The pure parts of `make chaos`: knee detection, recovery, overload accounting, the summary,
echo detection and replica bookkeeping."""

from __future__ import annotations

from typing import Any

import pytest

from bench.chaos.faults import replica_changes
from bench.chaos.figures import build_summary, find_knee, overload_figures, recovery_time
from bench.chaos.leaks import echo_problem, echoed_values
from bench.chaos.load import Request, Retry, summarize, windows


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
            "steady": {"rate_rps": 56.0, "server_errors": 0, "p99_ms": 300.0},
            "replicas": {"replica_restarts": 0, "memory_growth_pct": 1.5},
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
    }
    summary = build_summary(parts)
    assert summary["targets_held"] == summary["targets_total"]
    assert summary["capacity_knee_concurrency"] == 16
    assert summary["fuzz_503"] == 2 and summary["error_echo"] == 0
    assert summary["parts_with_errors"] == []


def test_summary_fails_targets_it_has_no_figures_for_and_names_broken_parts() -> None:
    summary = build_summary(
        {"load": {"error": "no capacity knee", "steady": {"server_errors": 3}}, "fuzz": {}}
    )
    assert summary["targets"]["steady_5xx"] is False
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


def test_retry_backoff_grows_is_capped_and_honours_retry_after() -> None:
    retry = Retry(attempts=5, base_s=0.5, cap_s=4.0)
    assert 0.4 <= retry.delay(1, None) <= 0.6
    assert 3.2 <= retry.delay(6, None) <= 4.8
    assert 2.4 <= retry.delay(1, "3") <= 3.6
    assert retry.delay(1, "3600") <= 4.8
    assert retry.delay(1, "Wed, 21 Oct 2015") <= 0.6


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
