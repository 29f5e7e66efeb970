"""`make chaos`: Rayline's load-and-fault suite (issue #7) against a real local stack.

    python -m bench.chaos [--quick] [--keep] [--reuse] [--only PARTS] [--seed [PHASE=]N]

It starts its own Ray head and MLflow server (`rayline.stack.harness`, its own RAYLINE_HOME, the
`chaos` profile's ports), trains a small model with `ray job submit`, deploys serve_config.yaml
with `serve deploy`, then runs:

1. load: a step load finds the capacity knee C; the soak: 0.5·C for 10 minutes beside registry
   reads, a promotion a minute and a training job that registers version 2 (bench/chaos/soak.py:
   no 5xx, no replica restart, memory growth after the warm-up); then 2·C for 30 s, then
   0.5·C again, and the time until p99 is back within twice the soak's p99;
2. ingress_kill: an Ingress replica (HTTP and models) SIGKILLed every 20 s under load at
   0.5·C from clients that do not retry: HAProxy replays what the dead replica dropped;
3. fuzz: schemathesis cases for every operation in /openapi.json (no 5xx, no error body with a
   traceback or an echo of the request; the first 20 offending requests and answers are kept),
   while killed_job SIGKILLs a training driver mid-sweep in the background;
4. mlflow_outage: MLflow stopped for 20 s under retrying load at 0.5·C;
5. promotions: 20 racing promotions of one alias;
6. key_revocation: a predict key added with `python -m rayline.stack keys add`, then revoked:
   the seconds until 12 calls in a row all get 401 (`key_revocation_s`);
7. node_kill: a second Ray node joins on loopback and gets an Ingress replica, then every one
   of its processes is SIGKILLed under load at 0.5·C from clients that do not retry: success
   rate, and the seconds until Ray marks it DEAD and Serve runs its replica floor on the head;
8. gcs_kill: the head's gcs_server SIGKILLed under load at 0.5·C from clients that do not
   retry and started again 20 s later from its own argv and environment (its state is in
   Redis): success rate, `gcs_recovery_s` (kill → a `ray job submit` succeeds), Serve and the
   scheduler answering again, every model version and schedule still there;
9. stores: PostgreSQL restarted while a job registers, S3 down while an alias moves, a full
   artifact store, and a backup wiped and restored (bench/chaos/stores.py: each needs a stack
   of its own, so each is a pytest test, run here in a child pytest and reported as a key).

With a Redis answering at 127.0.0.1:6379 the whole run keeps the GCS state there (GCS fault
tolerance), under a namespace of the run's own that stopping the stack removes; without one,
gcs_kill reports that it could not run. node_kill and gcs_kill run last: they change the
cluster.

Load is expressed as C, the knee's concurrency; x·C is offered as an open-loop arrival rate of
x times the knee's throughput (by Little's law the same as x·C clients at the knee's latency),
because a closed loop slows down with the server and cannot overload it. Everything is written
to bench/results/reliability.json; nothing here asserts, the summary says which targets hold.
A phase under load reports the success rate of its requests' first attempts beside the rate
after retries (`*_first_attempt_success_rate`): a retrying client hides a failed first attempt.

The randomised phases (fuzz: its cases; mlflow_outage: its clients' backoff jitter) each run
under a seed, drawn and printed when the phase starts unless `--seed` gives it, and recorded in
the report (`seeds`, and `replay`: the command that repeats them). `--seed fuzz=N` sends fuzz
cases identical to those of the run that drew N (same plan, API and schemathesis/Hypothesis
versions); the other phases are deterministic apart from the stack's own timing.

The deterministic security checks (hostile inputs, the auth matrix, Ray's token, loopback
listeners) are pytest tests in tests/integration/test_security.py, the tampered model in
tests/integration/test_tampered_model.py; `make test` runs them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import report as report_files
from bench.chaos import cluster, env, faults, fuzz, stores
from bench.chaos.figures import BLOWUP, KNEE_SHARE, QUICK, Plan, build_summary
from bench.chaos.phases import (
    MODEL,
    RETRY,
    guard,
    ingress_kill_phase,
    killed_job,
    load_phase,
    mlflow_outage_phase,
    ready,
    setup,
)
from bench.chaos.seeds import RANDOMISED, Seeds
from rayline.benchmarking.stats import finite
from rayline.stack.profiles import CHAOS, PortsInUse

RESULTS = Path(__file__).resolve().parents[1] / "results" / "reliability.json"
PACKAGES = ("ray", "mlflow", "scikit-learn", "schemathesis", "hypothesis", "aiohttp")
"""Whose versions the report records."""


def write(report: dict[str, Any], path: Path = RESULTS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2, default=str, allow_nan=False)
    path.write_text(text + "\n")


def run_suite(
    stack: env.ChaosStack,
    plan: Plan,
    parts: dict[str, Any],
    only: frozenset[str],
    seeds: Seeds,
    rate: float | None = None,
) -> None:
    def phase(name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if only and name not in only:
            return {}
        print(f"[chaos] {name} …", flush=True)
        result = parts[name] = guard(fn)
        shown = {k: v for k, v in result.items() if not isinstance(v, (dict, list))}
        print(f"[chaos] {name}: {json.dumps(finite(shown), default=str)[:600]}", flush=True)
        return result

    load = phase("load", lambda: asyncio.run(load_phase(stack, plan)))
    knee_rps = (load.get("knee") or {}).get("throughput_rps") or 20.0
    half = rate or round(0.5 * knee_rps, 2)
    phase("ingress_kill", lambda: asyncio.run(ingress_kill_phase(stack, half, plan)))
    phase("ready_after_kills", lambda: ready(stack))
    background = threading.Thread(target=killed_job, args=(stack, parts), daemon=True)
    if not only or "killed_job" in only:
        background.start()
    phase("fuzz", lambda: fuzz.fuzz(stack, plan.fuzz_examples, seeds.of("fuzz")))
    if background.is_alive():
        print("[chaos] waiting for the killed-driver check …", flush=True)
        background.join(timeout=600)
        print(
            f"[chaos] killed_job: {json.dumps(finite(parts.get('killed_job')), default=str)[:600]}"
        )
    phase(
        "mlflow_outage",
        lambda: asyncio.run(mlflow_outage_phase(stack, half, plan, seeds.of("mlflow_outage"))),
    )
    phase("promotions", lambda: faults.concurrent_promotions(stack, MODEL))
    phase("key_revocation", lambda: cluster.key_revocation(stack))
    # Last, since they change the cluster: a dead node stays in Ray's table, and the GCS comes
    # back as a new process.
    phase("node_kill", lambda: asyncio.run(cluster.node_kill_phase(stack, half, plan)))
    phase("gcs_kill", lambda: asyncio.run(cluster.gcs_kill_phase(stack, half, plan)))
    phase("stores", stores.stores_phase)


def replay_command(args: argparse.Namespace, seeds: Seeds) -> str:
    """The command that sends the randomised phases of this run again: same plan, same
    seeds (and the same --only)."""
    words = ["python -m bench.chaos"]
    if args.quick:
        words.append("--quick")
    if args.only:
        words.append(f"--only {args.only}")
    if args.rate:
        words.append(f"--rate {args.rate:g}")
    if seeds.used:
        words.append(seeds.replay())
    return " ".join(words)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="short phases (development only)")
    parser.add_argument("--keep", action="store_true", help="leave the chaos stack running")
    parser.add_argument("--reuse", action="store_true", help="use a stack --keep left running")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated parts to run (development; default: all): load, ingress_kill, "
        "ready_after_kills, fuzz, killed_job, mlflow_outage, promotions, "
        "key_revocation, node_kill, gcs_kill, stores",
    )
    parser.add_argument(
        "--rate",
        type=float,
        help="req/s of the fault phases instead of half the knee's (development: with --only "
        "and no load phase they would run at 10 req/s)",
    )
    parser.add_argument(
        "--seed",
        action="append",
        default=[],
        metavar="[PHASE=]N",
        help=f"replay: the seed of every randomised phase ({', '.join(RANDOMISED)}), or "
        "PHASE=N for one (repeatable); a phase without one draws its seed and prints it",
    )
    args = parser.parse_args(argv)
    try:
        seeds = Seeds.parse(args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    plan = QUICK if args.quick else Plan()
    started_at, t0 = time.time(), time.monotonic()
    report: dict[str, Any] = {
        "suite": "make chaos (issues #7 and #17: load and faults)",
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started_at)),
        "quick": args.quick,
        "machine_at_start": report_files.machine(),
        "versions": report_files.versions(PACKAGES),
        "settings": {
            "home": str(env.HOME),
            "ports": CHAOS.ports(),
            "model": MODEL,
            "plan": plan.__dict__,
            "knee_rule": {"share_of_peak": KNEE_SHARE, "p99_blowup": BLOWUP},
            "retry": RETRY.__dict__,
            "bind": "127.0.0.1 (Serve's HAProxy, Ray dashboard, MLflow)",
        },
    }
    parts: dict[str, Any] = {}
    stacks: list[env.ChaosStack] = []
    try:
        if args.reuse:
            stacks.append(env.attach())
        else:
            print(f"[chaos] starting the chaos stack in {env.HOME} …", flush=True)
            try:
                stacks.append(env.start())
            except (SystemExit, PortsInUse) as exc:  # how a start that failed is reported
                parts["setup"] = {"error": f"the chaos stack did not start: {exc}"}
                raise
            parts["setup"] = guard(lambda: setup(stacks[0]))
            print(f"[chaos] setup: {parts['setup']}", flush=True)
        if "error" not in parts.get("setup", {}):
            only = frozenset(p for p in args.only.split(",") if p)
            run_suite(stacks[0], plan, parts, only, seeds, args.rate)
    finally:
        if stacks and not args.keep:
            print("[chaos] stopping the chaos stack …", flush=True)
            with contextlib.suppress(Exception):
                env.stop(stacks[0])
        report["duration_s"] = round(time.monotonic() - t0, 1)
        report["machine_at_end"] = report_files.machine()
        report["seeds"] = seeds.used
        report["replay"] = replay_command(args, seeds)
        report["summary"] = build_summary(parts)
        report["parts"] = parts
        write(finite(report), args.output)
        print(f"[chaos] wrote {args.output} after {report['duration_s']:.0f}s")
        print(json.dumps(finite(report["summary"]), indent=2, default=str))
        print(f"[chaos] seeds {json.dumps(seeds.used)}; replay: {report['replay']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
