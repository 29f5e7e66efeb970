"""Metrics aggregation: counters, histograms, time series, Prometheus text."""

from __future__ import annotations

from rayline.exposition import exposition
from rayline.request_metrics import Delta, MetricsCore
from tests.promtext import samples, types, value


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
