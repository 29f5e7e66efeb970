"""Ray Job: the web UI's benchmarks (`POST /v1/benchmarks`), on the same code as `make bench`.

    python -m jobs.benchmark serving --model breast_cancer --alias champion \
        --concurrency 8 --duration-s 10 --rows-per-request 1
    python -m jobs.benchmark training --dataset breast_cancer --n-configs 24

serving: the closed-loop load generator (rayline.benchmarking.loadgen) against this stack's
ingress, with the stack's admin key (RAYLINE_API_KEYS or the keys file).
training: the same grid cross-validated sequentially in one process, then as Ray tasks across
the cluster (rayline.benchmarking.training). Every field of the request arrives as
`--kebab-case value`; the ones a kind does not use are accepted and ignored. The result is
written to `<RAYLINE_HOME>/benchmarks/<id>.json`, where `GET /v1/benchmarks` reads it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import uuid
from pathlib import Path
from typing import Any

from rayline.benchmarking.loadgen import Target, http_json, measure, run_sync
from rayline.benchmarking.training import compare_sequential_parallel
from rayline.keys import admin_key
from rayline.ray_api import submission_id
from rayline.settings import Settings, get_settings

SERVING_KEYS = ("throughput_rps", "rows_per_s", "p50_ms", "p90_ms", "p99_ms", "errors", "requests")


def result_id(kind: str) -> str:
    """Sortable by time (the ingress lists newest first by name), unique per job."""
    job = submission_id().removeprefix("raysubmit_")
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{kind}-{job or uuid.uuid4().hex[:12]}"


def write_result(settings: Settings, document: dict[str, Any]) -> Path:
    folder = settings.benchmarks_dir
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{document['id']}.json"
    partial = path.with_suffix(".json.partial")  # the ingress only reads whole *.json files
    partial.write_text(json.dumps(document, indent=2, default=str) + "\n")
    partial.replace(path)
    return path


def serving(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    key = admin_key(settings)
    if key is None:
        where = "RAYLINE_API_KEYS" if settings.api_keys is not None else settings.credentials_file
        raise ValueError(f"no admin API key in {where}: the benchmark calls the ingress as admin")
    base = f"{settings.serve_url}/v1/models/{args.model}"
    schema = http_json(f"{base}/schema?alias={args.alias}", key)
    example = schema.get("input_example")
    if not example:
        raise ValueError(f"model {args.model}@{args.alias} has no input example to send")
    columns = [c["name"] for c in schema["inputs"]] or list(example)
    row = [example[c] for c in columns]
    target = Target(
        name=f"{args.model}@{args.alias}",
        url=f"{base}/predict?alias={args.alias}",
        body=json.dumps(
            {"instances": [row] * args.rows_per_request, "return_proba": False}
        ).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        rows_per_request=args.rows_per_request,
    )
    warmup = min(2.0, args.duration_s / 5)
    print(
        f"[benchmark] {target.name}: {args.concurrency} clients, {args.rows_per_request} row(s) "
        f"per request, {warmup:.1f}s warm-up + {args.duration_s:.0f}s",
        flush=True,
    )
    run = run_sync(measure(target, args.concurrency, args.duration_s, warmup))
    full = run.summary()
    return {
        "settings": {
            "model": args.model,
            "alias": args.alias,
            "version": schema.get("version"),
            "concurrency": args.concurrency,
            "duration_s": args.duration_s,
            "warmup_s": warmup,
            "rows_per_request": args.rows_per_request,
            "url": target.url,
            "client": "rayline.benchmarking.loadgen (aiohttp, closed loop)",
        },
        "summary": {k: full[k] for k in SERVING_KEYS},
        "raw": {"mean_ms": full["mean_ms"], "statuses": run.statuses},
    }


def training(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    import ray

    ray.init(log_to_driver=False)
    print(
        f"[benchmark] {args.n_configs} configurations x 5 folds on {args.dataset}: "
        "sequential scikit-learn, then Ray tasks",
        flush=True,
    )
    result = compare_sequential_parallel(args.dataset, args.n_configs)
    return {
        "settings": {
            "dataset": args.dataset,
            "n_configs": args.n_configs,
            "folds": 5,
            "family": "random_forest",
            "sequential": "one process, one configuration and fold at a time",
            "parallel": "one Ray task per configuration and fold, data in the object store once",
            "cluster_cpus": ray.cluster_resources().get("CPU"),  # type: ignore[no-untyped-call]
        },
        **result,
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m jobs.benchmark",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("kind", choices=["serving", "training"])
    p.add_argument("--model", default="breast_cancer", help="serving: registered model name")
    p.add_argument("--alias", default="champion", help="serving: alias (or version) to call")
    p.add_argument("--concurrency", type=int, default=8, help="serving: concurrent clients")
    p.add_argument("--duration-s", type=float, default=10.0, help="serving: measured seconds")
    p.add_argument("--rows-per-request", type=int, default=1, help="serving: rows per request")
    p.add_argument("--dataset", default="breast_cancer", help="training: built-in dataset")
    p.add_argument("--n-configs", type=int, default=24, help="training: configurations")
    p.add_argument("--id", help="result id (default: time, kind and Ray job id)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = get_settings()
    for name in ("concurrency", "rows_per_request", "n_configs"):
        if getattr(args, name) < 1:
            print(f"error: --{name.replace('_', '-')} must be at least 1", file=sys.stderr)
            return 2
    started = time.time()
    try:
        body = serving(args, settings) if args.kind == "serving" else training(args, settings)
    except (ValueError, urllib.error.URLError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    document = {
        "id": args.id or result_id(args.kind),
        "kind": args.kind,
        "created_at": started,
        **body,
    }
    path = write_result(settings, document)
    print(f"[benchmark] {json.dumps(document['summary'])}", flush=True)
    print(f"[benchmark] result written to {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
