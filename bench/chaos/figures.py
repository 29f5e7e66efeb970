"""The chaos suite's pure figures: a run's plan, the capacity knee, recovery time, overload
accounting, first-attempt and retried success, and the summary that says which targets hold
(all unit-tested)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.chaos import stores
from bench.chaos.load import TRANSPORT_ERROR, Request
from rayline.benchmarking.stats import percentile

KNEE_SHARE = 0.9
"""The knee is the first step whose throughput reaches this share of the best step's."""
BLOWUP = 2.5
"""…unless p99 blew up first: grew past this multiple of the previous step's p99 while the
concurrency only doubled (at saturation p99 grows in proportion, about 2x per step)."""


@dataclass(frozen=True)
class Plan:
    """Durations and sizes of one run (`--quick` shrinks them for development)."""

    steps: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    step_s: float = 5.0
    step_warmup_s: float = 2.0
    soak_s: float = 600.0
    """The soak (bench/chaos/soak.py): 0.5·C with registry reads, promotions, a training job."""
    soak_warmup_s: float = 180.0
    """Memory growth is measured from here to the soak's end."""
    promote_every_s: float = 60.0
    registry_read_every_s: float = 2.0
    overload_s: float = 30.0
    after_s: float = 40.0
    recovery_window_s: float = 2.0
    kill_every_s: float = 20.0
    kill_for_s: float = 80.0
    mlflow_down_s: float = 20.0
    fuzz_examples: int = 60
    """Per generation mode (positive, negative): 120 examples per operation."""
    node_kill_for_s: float = 60.0
    """Load of the node_kill phase; the node dies `node_kill_at_s` into it."""
    node_kill_at_s: float = 20.0
    gcs_load_s: float = 75.0
    """Load of the gcs_kill phase; the GCS dies `gcs_kill_at_s` into it, for `gcs_down_s`."""
    gcs_kill_at_s: float = 10.0
    gcs_down_s: float = 20.0
    """How long the GCS stays down before it is started again (a supervisor's restart)."""


QUICK = Plan(
    steps=(1, 4, 16),
    step_s=3,
    soak_s=40,
    soak_warmup_s=15,
    promote_every_s=10,
    overload_s=10,
    after_s=15,
    kill_every_s=10,
    kill_for_s=25,
    mlflow_down_s=10,
    fuzz_examples=10,
    node_kill_for_s=40,
    node_kill_at_s=10,
    gcs_load_s=40,
    gcs_kill_at_s=5,
    gcs_down_s=10,
)


def find_knee(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The capacity knee of a step load: the lightest step whose throughput reaches KNEE_SHARE
    of the best step's (more clients stop buying throughput), moved back to the last step before
    p99 blew past BLOWUP times the previous step's p99 if that came first."""
    usable = [s for s in steps if s.get("throughput_rps") and s["throughput_rps"] > 0]
    if not usable:
        return {"concurrency": None, "throughput_rps": None, "reason": "no successful step"}
    usable.sort(key=lambda s: s["concurrency"])
    peak = max(s["throughput_rps"] for s in usable)
    for index, step in enumerate(usable):
        if index > 0 and step["p99_ms"] > BLOWUP * usable[index - 1]["p99_ms"]:
            knee, reason = usable[index - 1], f"p99 grew over {BLOWUP:g}x at the next step"
            break
        if step["throughput_rps"] >= KNEE_SHARE * peak:
            knee, reason = step, f"throughput within {1 - KNEE_SHARE:.0%} of the peak"
            break
    else:  # unreachable: the peak step itself qualifies
        knee, reason = usable[-1], "last step"
    return {
        "concurrency": knee["concurrency"],
        "throughput_rps": knee["throughput_rps"],
        "p99_ms": knee["p99_ms"],
        "peak_throughput_rps": peak,
        # Little's law: the concurrency the knee's throughput and mean latency amount to.
        "little_concurrency": round(knee["throughput_rps"] * knee.get("mean_ms", 0) / 1000, 2),
        "reason": reason,
    }


def recovery_time(
    points: list[dict[str, Any]], since_s: float, limit_ms: float, hold: int = 2
) -> float | None:
    """Seconds from `since_s` until the first of `hold` consecutive windows in which p99 is
    within `limit_ms` and at least 99 % of requests succeeded (a refusal is not service);
    None if that never happens."""
    later = [p for p in points if p["t"] >= since_s - 1e-9]
    good = [
        p["requests"] > 0 and p["ok"] >= 0.99 * p["requests"] and p["p99_ms"] <= limit_ms
        for p in later
    ]
    for index in range(len(later) - hold + 1):
        if all(good[index : index + hold]):
            return round(float(later[index]["t"]) - since_s, 2)
    return None


def overload_figures(requests: list[Request]) -> dict[str, Any]:
    """Under overload only 200, 429 and 503 are acceptable, and refusals carry Retry-After."""
    finals: dict[str, int] = {}
    for r in requests:
        finals[str(r.final)] = finals.get(str(r.final), 0) + 1
    other = sum(1 for r in requests if r.final not in (200, 429, 503))
    no_retry_after = sum(r.refusals_without_retry_after for r in requests)
    return {
        "requests": len(requests),
        "statuses": finals,
        "refusals": sum(1 for r in requests if r.final in (429, 503)),
        "refusals_without_retry_after": no_retry_after,
        "transport_errors": sum(1 for r in requests if r.final == TRANSPORT_ERROR),
        "overload_other_errors": other + no_retry_after,
    }


def final_counts(requests: list[Request]) -> dict[str, int]:
    """How many requests ended with each status."""
    counts: dict[str, int] = {}
    for r in requests:
        counts[str(r.final)] = counts.get(str(r.final), 0) + 1
    return dict(sorted(counts.items()))


def attempt_figures(requests: list[Request]) -> dict[str, Any]:
    """Success of the requests after retries (`success_rate`) and at their first attempt
    (`first_attempt_success_rate`): a client that retries hides a failed first attempt, which
    `recovered_by_retry` counts. Without retries the two rates are the same."""
    ok = sum(r.ok for r in requests)
    first_ok = sum(r.statuses[0] == 200 for r in requests)
    attempts: dict[str, int] = {}
    for r in requests:
        for s in r.statuses:
            attempts[str(s)] = attempts.get(str(s), 0) + 1
    return {
        "requests": len(requests),
        "succeeded": ok,
        "success_rate": round(ok / len(requests), 5) if requests else None,
        "first_attempt_success_rate": round(first_ok / len(requests), 5) if requests else None,
        "recovered_by_retry": sum(r.ok and r.statuses[0] != 200 for r in requests),
        "final_statuses": final_counts(requests),
        "attempt_statuses": dict(sorted(attempts.items())),
        "max_attempts_used": max((len(r.statuses) for r in requests), default=0),
        "p99_ms": round(percentile([r.latency_s * 1000 for r in requests if r.ok], 99), 2),
    }


def _get(parts: dict[str, Any], *keys: str) -> Any:
    value: Any = parts
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


TARGETS: dict[str, Callable[[Any], bool]] = {
    "soak_5xx": lambda v: v == 0,
    "replica_restarts": lambda v: v == 0,
    "soak_memory_growth_pct": lambda v: v is not None and v <= 5,
    "soak_training_job_registered": lambda v: v is True,
    "overload_other_errors": lambda v: v == 0,
    "recovery_s": lambda v: v is not None and v <= 30,
    "ingress_kill_success_rate": lambda v: v is not None and v >= 0.999,
    "killed_job_clean": lambda v: v is True,
    "mlflow_down_predict_success_rate": lambda v: v == 1.0,
    "mlflow_down_registry_fast_503": lambda v: v is True,
    "mlflow_recovered": lambda v: v is True,
    "concurrent_promotions_ok": lambda v: v is True,
    "fuzz_5xx": lambda v: v == 0,
    "error_echo": lambda v: v == 0,
    "gcs_kill_success_rate": lambda v: v is not None and v >= 0.999,
    "gcs_recovery_s": lambda v: v is not None and v <= 60,
    "gcs_state_kept": lambda v: v is True,
    "gcs_serve_recovered": lambda v: v is True,
    "node_kill_success_rate": lambda v: v is not None and v >= 0.999,
    "node_kill_replicas_rescheduled": lambda v: v is True,
    "key_revocation_s": lambda v: v is not None and v <= 5,
    "pg_restart_clean": lambda v: v is True,
    "s3_outage_old_version_serves": lambda v: v is True,
    "disk_full_clean": lambda v: v is True,
    "backup_roundtrip_identical": lambda v: v is True,
}


def build_summary(parts: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of every part, and which targets hold (a missing part fails)."""
    figures: dict[str, Any] = {
        "capacity_knee_concurrency": _get(parts, "load", "knee", "concurrency"),
        "knee_throughput_rps": _get(parts, "load", "knee", "throughput_rps"),
        "soak_rate_rps": _get(parts, "load", "soak", "rate_rps"),
        "soak_s": _get(parts, "load", "soak", "seconds"),
        "soak_5xx": _get(parts, "load", "soak", "soak_5xx"),
        "soak_p99_ms": _get(parts, "load", "soak", "p99_ms"),
        "soak_promotions": len(_get(parts, "load", "soak", "promotions") or []),
        "soak_training_job_registered": _get(parts, "load", "soak", "training_job", "registered"),
        "replica_restarts": _get(parts, "load", "soak", "replica_restarts"),
        "soak_memory_growth_pct": _get(parts, "load", "soak", "soak_memory_growth_pct"),
        "overload_rate_rps": _get(parts, "load", "overload", "rate_rps"),
        "overload_statuses": _get(parts, "load", "overload", "statuses"),
        "overload_other_errors": _get(parts, "load", "overload", "overload_other_errors"),
        "recovery_s": _get(parts, "load", "recovery", "recovery_s"),
        "ingress_kills": _get(parts, "ingress_kill", "kills_done"),
        "ingress_kill_success_rate": _get(parts, "ingress_kill", "success_rate"),
        "ingress_kill_first_attempt_success_rate": _get(
            parts, "ingress_kill", "first_attempt_success_rate"
        ),
        "killed_job_clean": _get(parts, "killed_job", "killed_job_clean"),
        "killed_run_failed_after_s": _get(parts, "killed_job", "run_failed_after_s"),
        "mlflow_down_predict_success_rate": _get(parts, "mlflow_outage", "success_rate"),
        "mlflow_down_predict_first_attempt_success_rate": _get(
            parts, "mlflow_outage", "first_attempt_success_rate"
        ),
        "mlflow_down_registry_statuses": _get(parts, "mlflow_outage", "registry_statuses"),
        "mlflow_down_registry_max_s": _get(parts, "mlflow_outage", "registry_max_s"),
        "mlflow_down_registry_fast_503": _get(parts, "mlflow_outage", "registry_fast_503"),
        "mlflow_recovered": _get(parts, "mlflow_outage", "recovered"),
        "concurrent_promotions_ok": _get(parts, "promotions", "concurrent_promotions_ok"),
        "fuzz_operations": _get(parts, "fuzz", "operations"),
        "fuzz_requests": _get(parts, "fuzz", "requests"),
        "fuzz_5xx": _get(parts, "fuzz", "fuzz_5xx"),
        "fuzz_503": _get(parts, "fuzz", "fuzz_503"),
        "error_echo": _get(parts, "fuzz", "error_echo"),
        "gcs_kill_success_rate": _get(parts, "gcs_kill", "success_rate"),
        "gcs_kill_first_attempt_success_rate": _get(
            parts, "gcs_kill", "first_attempt_success_rate"
        ),
        "gcs_recovery_s": _get(parts, "gcs_kill", "gcs_recovery_s"),
        "gcs_state_kept": _get(parts, "gcs_kill", "state_kept"),
        "gcs_serve_recovered": _get(parts, "gcs_kill", "serve_recovered"),
        "gcs_serve_recovered_s": _get(parts, "gcs_kill", "serve_recovered_s"),
        "node_kill_success_rate": _get(parts, "node_kill", "success_rate"),
        "node_kill_first_attempt_success_rate": _get(
            parts, "node_kill", "first_attempt_success_rate"
        ),
        "node_kill_replicas_rescheduled": _get(parts, "node_kill", "replicas_rescheduled"),
        "node_kill_node_dead_s": _get(parts, "node_kill", "node_dead_s"),
        "node_kill_rescheduled_s": _get(parts, "node_kill", "rescheduled_s"),
        "key_revocation_s": _get(parts, "key_revocation", "key_revocation_s"),
        **{key: _get(parts, "stores", key) for key in stores.TESTS},
    }
    targets = {name: bool(check(figures.get(name))) for name, check in TARGETS.items()}
    failed_parts = sorted(k for k, v in parts.items() if isinstance(v, dict) and "error" in v)
    return {
        **figures,
        "targets": targets,
        "targets_held": sum(targets.values()),
        "targets_total": len(targets),
        "parts_with_errors": failed_parts,
    }
