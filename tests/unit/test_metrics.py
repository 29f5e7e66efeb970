"""Metrics aggregation: counters, histograms, time series, Prometheus text."""

from __future__ import annotations

import shutil
import subprocess

from sklearn.datasets import load_iris

from rayline.exposition import exposition, monitoring_families
from rayline.monitoring.live import Tap
from rayline.monitoring.monitor import Monitor
from rayline.request_metrics import CLUSTER_TOTALS, Delta, MetricsCore
from tests.promtext import samples, types, value
from tests.unit.routes.fakes import COLUMNS, iris_reference


def _delta() -> Delta:
    delta = Delta()
    for i in range(10):
        delta.add("predict_model", "iris", "1", 200, 0.001 * (i + 1), 4)
    delta.add("predict_model", "iris", "1", 503, 0.002, None)
    delta.add("health", "", "", 200, 0.0001, None)
    return delta


def test_timeseries_rates_and_percentiles() -> None:
    core = MetricsCore()
    core.ingest(_delta(), now=1000.0)
    core.ingest(_delta(), now=1006.0)
    series = core.timeseries(minutes=5, now=1010.0)
    assert [p["t"] for p in series["points"]] == [1000.0, 1005.0]
    assert series["points"][0]["requests_per_s"] == 12 / 5
    assert series["points"][0]["errors_per_s"] == 1 / 5
    assert 5.0 <= series["points"][0]["p50_ms"] <= 6.5
    assert series["totals"] == {"requests": 24, "errors": 2}
    assert series["by_model"][0]["model"] == "iris" and series["by_model"][0]["requests"] == 22
    assert core.timeseries(minutes=0.1, now=2000.0)["points"] == []


def test_prometheus_text() -> None:
    core = MetricsCore()
    core.ingest(_delta(), now=1000.0)
    text = exposition(core.families())
    assert types(text)["rayline_requests"] == "counter"
    found = samples(text)
    labels = {"route": "predict_model", "model": "iris", "version": "1"}
    assert value(found, "rayline_requests_total", **labels, status="200") == 10
    assert value(found, "rayline_requests_total", **labels, status="503") == 1
    latency = "rayline_request_latency_seconds"
    assert value(found, f"{latency}_bucket", model="iris", version="1", le="+Inf") == 11
    assert value(found, f"{latency}_bucket", model="iris", version="1", le="0.005") == 6
    assert value(found, f"{latency}_count", model="iris", version="1") == 11
    assert value(found, "rayline_batch_size_bucket", le="4") == 10


def test_label_values_are_escaped() -> None:
    """A model name with quotes, backslashes or a newline cannot break the exposition."""
    delta = Delta()
    awkward = 'we"ird\\name\nx'
    delta.add("predict_model", awkward, "1", 200, 0.01, 1)
    core = MetricsCore()
    core.ingest(delta, now=1000.0)
    found = samples(exposition(core.families()))
    assert (
        value(
            found,
            "rayline_requests_total",
            route="predict_model",
            model=awkward,
            version="1",
            status="200",
        )
        == 1
    )


def test_promtool_accepts_the_whole_exposition() -> None:
    """Request, cluster and monitoring families as /metrics serves them pass Prometheus' own
    linter (`promtool check metrics`: names, types, suffixes, escaping)."""
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool is missing: `make prometheus` installs it"
    core = MetricsCore()
    delta = _delta()
    delta.add("predict_model", 'we"ird', "1", 200, 0.01, 1)
    core.ingest(delta, now=1000.0)
    reference = iris_reference()
    tap = Tap()
    frame = load_iris(as_frame=True).data
    frame.columns = COLUMNS
    tap.fold(("iris", "1"), reference, frame, [0] * len(frame))
    monitor = Monitor({}, None)
    monitor.ingest(tap.drain(), now=1000.0)
    monitor.feedback[("iris", "", "unknown")] += 2
    cluster = {"nodes": [{"alive": True}], "totals": dict.fromkeys(CLUSTER_TOTALS, 1.0)}
    text = exposition([*core.families(cluster), *monitoring_families(monitor.samples(1001.0))])
    assert "rayline_feature_drift_score" in text and "rayline_cluster_cpus" in text
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
