"""Prometheus text exposition of Rayline's metrics, through `prometheus_client` (it escapes label
values and writes the HELP/TYPE lines), from metric families the owners of the figures build:
request metrics (`rayline.request_metrics`), monitoring (`monitoring_families` below) and
schedules (serve_app/scheduler.py)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric


class _Families:
    """A one-shot collector over families built for one scrape."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def exposition(families: Iterable[Metric]) -> str:
    """The Prometheus text format (0.0.4) of `families`."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))  # type: ignore[arg-type]
    return generate_latest(registry).decode()


def monitoring_families(reports: list[dict[str, Any]]) -> list[Metric]:
    """Drift, window, feedback and live quality per model version, from `Monitor.report`s."""
    rows = GaugeMetricFamily(
        "rayline_monitoring_window_rows",
        "Rows in the live monitoring window of a model version.",
        labels=["model", "version"],
    )
    feature_score = GaugeMetricFamily(
        "rayline_feature_drift_score",
        "Drift distance (or test statistic) of a feature, live window vs training reference.",
        labels=["model", "version", "feature", "method"],
    )
    feature_drifted = GaugeMetricFamily(
        "rayline_feature_drifted",
        "1 when the feature drifted (distance above, or p-value below, its threshold).",
        labels=["model", "version", "feature"],
    )
    prediction_score = GaugeMetricFamily(
        "rayline_prediction_drift_score",
        "Drift distance of the predictions, live window vs held-out predictions at training.",
        labels=["model", "version", "method"],
    )
    model_drifted = GaugeMetricFamily(
        "rayline_model_drifted",
        "1 when the model version drifted (feature share or predictions); absent below min_rows.",
        labels=["model", "version"],
    )
    feedback = CounterMetricFamily(
        "rayline_feedback",
        "Feedback labels received, by outcome (joined, unknown, expired).",
        labels=["model", "version", "outcome"],
    )
    live_quality = GaugeMetricFamily(
        "rayline_live_quality",
        "Live quality of a model version from feedback labels.",
        labels=["model", "version", "metric"],
    )
    training_quality = GaugeMetricFamily(
        "rayline_training_quality",
        "Held-out test quality of a model version, recorded at training.",
        labels=["model", "version", "metric"],
    )
    quality_alarm = GaugeMetricFamily(
        "rayline_quality_alarm",
        "1 when live quality dropped below training quality beyond the model's threshold.",
        labels=["model", "version"],
    )
    for report in reports:
        model = report["model"]
        for outcome, count in report["feedback"].items():
            if outcome != "joined":
                feedback.add_metric([model, "", outcome], count)
        for item in report["versions"]:
            version = item["version"]
            feedback.add_metric([model, version, "joined"], item["feedback"].get("joined", 0))
            rows.add_metric([model, version], item["window"]["rows"])
            drift = item["drift"]
            for feature in drift["features"]:
                labels = [model, version, feature["name"]]
                feature_score.add_metric([*labels, feature["method"]], feature["score"])
                feature_drifted.add_metric(labels, 1.0 if feature["drifted"] else 0.0)
            if drift["prediction"] is not None:
                prediction = drift["prediction"]
                prediction_score.add_metric(
                    [model, version, prediction["method"]], prediction["score"]
                )
            if drift["verdict"] in ("drift", "no_drift"):
                model_drifted.add_metric(
                    [model, version], 1.0 if drift["verdict"] == "drift" else 0
                )
            quality = item["quality"]
            for metric, value in quality["live"].items():
                live_quality.add_metric([model, version, metric], value)
            for metric, value in quality["training"].items():
                training_quality.add_metric([model, version, metric], value)
            if quality["alarm"] is not None:
                quality_alarm.add_metric([model, version], 1.0 if quality["alarm"] else 0.0)
    return [
        rows,
        feature_score,
        feature_drifted,
        prediction_score,
        model_drifted,
        feedback,
        live_quality,
        training_quality,
        quality_alarm,
    ]
