"""Benchmark results: JSON files with summary, raw numbers, versions and settings; PNG charts;
the README table; and the versions and machine every result (the chaos report too) records.

    python -m bench.report          # print the Markdown table of the latest results
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from rayline.benchmarking.stats import finite

RESULTS = Path(__file__).resolve().parent / "results"
PACKAGES = ("ray", "mlflow", "scikit-learn", "numpy", "pandas", "aiohttp", "skops", "uvicorn")


def versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Python's and these installed packages' versions (a missing package is left out)."""
    found = {"python": platform.python_version()}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def machine() -> dict[str, Any]:
    """What the numbers were measured on, including how busy it was."""
    try:
        load = list(os.getloadavg())
    except OSError:
        load = []
    try:
        meminfo = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()
        mem_gb = round(int(meminfo[1]) / 1024 / 1024, 1)
    except (OSError, IndexError, ValueError):
        mem_gb = None
    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_gb": mem_gb,
        "loadavg_at_write": [round(x, 2) for x in load],
    }


def write(
    name: str,
    summary: dict[str, Any],
    raw: dict[str, Any],
    settings: dict[str, Any],
    started_at: float,
    folder: Path = RESULTS,
) -> Path:
    """`bench/results/<name>.json`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    document = {
        "benchmark": name,
        "created_at": time.time(),
        "duration_s": round(time.time() - started_at, 1),
        "summary": summary,
        "settings": settings,
        "versions": versions(),
        "machine": machine(),
        "raw": raw,
    }
    path.write_text(json.dumps(finite(document), indent=2, default=str) + "\n")
    return path


def load(name: str, folder: Path = RESULTS) -> dict[str, Any] | None:
    path = folder / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


# --- the README table ---------------------------------------------------------------------
_SERVING: dict[str, tuple[str, float]] = {
    # key: (comparison, bound); each for the random forest and, with `_lr`, the linear model
    "lean_ratio_c32": (">=", 1.0),
    "mlserver_ratio_c32": (">=", 1.0),
    "throughput_ratio_c32": (">=", 3.0),
    "throughput_ratio_c1": (">=", 1.0),
    "p99_ratio_open": ("<=", 0.5),
    "floor_fraction_c32": ("", 0.0),
    "monitoring_ratio_c32": (">=", 0.95),
    "rows_ratio_1000": (">=", 1.0),
    "floor_fraction_1000": (">=", 0.7),
    "p50_ms_c1": ("", 0.0),
}
TARGETS: dict[str, tuple[str, str, float]] = {
    # key: (benchmark, comparison, bound)
    **{key: ("serving", *target) for key, target in _SERVING.items()},
    **{f"{key}_lr": ("serving", *target) for key, target in _SERVING.items()},
    "wall_ratio_light": ("training", "<=", 1.1),
    "wall_ratio_heavy": ("training", "<=", 1.05),
    "best_score_delta": ("training", ">=", 0.0),
    "time_to_best_ratio": ("training", "<=", 0.5),
    "cold_start_s": ("platform", "<=", 30.0),
    "deploy_s": ("platform", "", 0.0),
    "idle_pss_mb": ("platform", "<=", 2000.0),
    "job_submit_overhead_s": ("platform", "", 0.0),
}


def verdict(value: Any, comparison: str, bound: float) -> str:
    if not comparison:
        return "—"
    if not isinstance(value, (int, float)):
        return "no data"
    held = value >= bound if comparison == ">=" else value <= bound
    return "holds" if held else "misses"


def markdown_table(folder: Path = RESULTS) -> str:
    rows = ["| benchmark | figure | value | target | |", "|---|---|---|---|---|"]
    for key, (bench, comparison, bound) in TARGETS.items():
        document = load(bench, folder)
        value = None if document is None else document["summary"].get(key)
        target = f"{comparison} {bound:g}" if comparison else ""
        shown = "n/a" if value is None else f"{value:g}" if isinstance(value, float) else value
        rows.append(
            f"| {bench} | `{key}` | {shown} | {target} | {verdict(value, comparison, bound)} |"
        )
    return "\n".join(rows)


# --- charts (matplotlib, Agg) ----------------------------------------------------------------
def _save(plt: Any, fig: Any, path: Path) -> Path:
    """Lay out, write as PNG and close one figure."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def chart_serving(document: dict[str, Any], folder: Path = RESULTS) -> Path:
    """Throughput per scenario and server (dashed: the in-process floor), and p50/p99 latency,
    per model."""
    plt = _pyplot()
    models = document["raw"]["models"]
    fig, axes = plt.subplots(2, len(models), figsize=(7 * len(models), 8), squeeze=False)
    for column, (model, result) in enumerate(sorted(models.items())):
        scenarios = result["scenarios"]
        labels = list(scenarios)
        servers = list(next(iter(scenarios.values()))["servers"])
        width = 0.8 / len(servers)
        for index, server in enumerate(servers):
            offset = (index - (len(servers) - 1) / 2) * width
            x = [i + offset for i in range(len(labels))]
            summaries = [scenarios[s]["servers"][server]["summary"] for s in labels]
            axes[0][column].bar(x, [m["rows_per_s"] or 0 for m in summaries], width, label=server)
            axes[1][column].bar(
                x, [m["p99_ms"] or 0 for m in summaries], width, alpha=0.35, label=f"{server} p99"
            )
            axes[1][column].bar(x, [m["p50_ms"] or 0 for m in summaries], width)
        for i, name in enumerate(labels):
            floor = scenarios[name]["floor"]["rows_per_s"]
            axes[0][column].hlines(floor, i - 0.45, i + 0.45, colors="black", linestyles="dashed")
        axes[0][column].set(title=f"{model}: rows/s (dashed: in-process floor)")
        axes[1][column].set(title=f"{model}: latency p50 (solid), p99 (light), ms")
        for row in (0, 1):
            axes[row][column].set_yscale("log")
            axes[row][column].set_xticks(range(len(labels)), labels, fontsize=8)
            axes[row][column].legend(fontsize=7)
    return _save(plt, fig, folder / "serving.png")


def chart_training(document: dict[str, Any], folder: Path = RESULTS) -> Path:
    """Wall time per grid, and best score found over time with early stopping."""
    plt = _pyplot()
    raw = document["raw"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    grids = [g for g in ("light", "heavy") if g in raw["grids"]]
    x = range(len(grids))
    rayline = [raw["grids"][g]["rayline_sweep_s"] for g in grids]
    gridsearch = [raw["grids"][g]["gridsearch_s"] for g in grids]
    left.bar([i - 0.2 for i in x], rayline, 0.4, label="Rayline sweep (Ray Job, MLflow on)")
    left.bar([i + 0.2 for i in x], gridsearch, 0.4, label="GridSearchCV(n_jobs=2)")
    left.set_xticks(list(x), grids)
    left.set(title="Search wall time (s), 24 configs x 5 folds", ylabel="seconds")
    left.legend(fontsize=8)
    for grid in grids:
        early = raw["grids"][grid].get("early_stopping")
        if not early:
            continue
        points = sorted((t["t_rel_s"], t["score"]) for t in early["trials"] if t["completed"])
        best, xs, ys = float("-inf"), [], []
        for t, score in points:
            best = max(best, score)
            xs.append(t)
            ys.append(best)
        right.step(xs, ys, where="post", label=f"Rayline + ASHA ({grid})")
        right.axvline(raw["grids"][grid]["gridsearch_s"], linestyle="dashed", linewidth=1)
        right.axhline(raw["grids"][grid]["gridsearch_best"], linestyle="dotted", linewidth=1)
    right.set(
        title="Best CV score so far (dashed: GridSearchCV total time; dotted: its best)",
        xlabel="seconds since sweep start",
    )
    right.title.set_fontsize(9)
    right.legend(fontsize=8)
    return _save(plt, fig, folder / "training.png")


def chart_platform(document: dict[str, Any], folder: Path = RESULTS) -> Path:
    """Cold start phases and idle memory by component."""
    plt = _pyplot()
    raw = document["raw"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    phases = raw["cold_start_phases_s"]
    left.barh(list(phases), list(phases.values()))
    left.set(title="Cold start phases (s)")
    memory = raw["idle_memory_by_component_mb"]
    right.barh(list(memory), [m["rss_mb"] for m in memory.values()])
    right.set(title="Idle RSS by component (MB, object store excluded)")
    return _save(plt, fig, folder / "platform.png")


CHARTS = {"serving": chart_serving, "training": chart_training, "platform": chart_platform}


def main() -> int:
    print(markdown_table())
    for name, chart in CHARTS.items():
        document = load(name)
        if document is not None:
            print(f"chart: {chart(document)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
