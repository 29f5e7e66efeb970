"""Monitoring core: profiles, distances against scipy and hand-checked values, verdicts, the
prediction log, feedback and live quality."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon
from sklearn.datasets import load_breast_cancer, load_diabetes

from rayline.monitoring.drift import (
    MonitoringConfig,
    centres,
    chi_square,
    drift_report,
    js_distance,
    ks_binned,
    psi,
    wasserstein,
)
from rayline.monitoring.live import Tap, Windows, issued_at, new_prediction_id
from rayline.monitoring.monitor import FeedbackItem, Monitor
from rayline.monitoring.profile import (
    OTHER,
    PREDICTION,
    Column,
    Folder,
    Profile,
    reference_profile,
)
from rayline.monitoring.quality import live_metrics, quality_alarm, training_metrics
from rayline.state import StateStore
from rayline.state.predictions import PredictedRequest, PredictionLog

RNG = np.random.default_rng(0)


def _cancer() -> tuple[pd.DataFrame, pd.Series]:
    data = load_breast_cancer(as_frame=True)
    return data.data, data.target


def _reference() -> Profile:
    features, target = _cancer()
    return reference_profile(
        features, target.to_numpy(), "classification", {"accuracy": 0.95}, [0, 1]
    )


def _live(reference: Profile, frame: pd.DataFrame, predictions: np.ndarray) -> Profile:
    """The live profile serving folds from these rows."""
    folder = Folder(reference)
    folder.fold(frame, predictions)
    return folder.profile()


def _resample(n: int, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    features, target = _cancer()
    picked = np.random.default_rng(seed).integers(0, len(features), n)
    return features.iloc[picked].reset_index(drop=True), target.to_numpy()[picked]


# --- distances ------------------------------------------------------------------------------
def test_psi_matches_its_formula_by_hand() -> None:
    p, q = np.array([0.25, 0.25, 0.5]), np.array([0.5, 0.25, 0.25])
    expected = (0.5 - 0.25) * math.log(0.5 / 0.25) + 0 + (0.25 - 0.5) * math.log(0.25 / 0.5)
    assert psi(p, q) == pytest.approx(expected)
    assert psi(p, p) == 0.0
    # An empty live bin is floored, not infinite.
    assert math.isfinite(psi(p, np.array([0.0, 0.5, 0.5])))


def test_js_distance_is_scipys_base_2() -> None:
    p, q = np.array([0.1, 0.2, 0.7]), np.array([0.3, 0.3, 0.4])
    assert js_distance(p, q) == pytest.approx(jensenshannon(p, q, base=2))
    assert js_distance(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)


def test_wasserstein_is_scipys_on_the_bin_centres_in_std_units() -> None:
    values = RNG.normal(10, 2, 5000)
    reference = Column("numeric", np.zeros(5, np.int64), [7.0, 9.0, 11.0, 13.0])
    reference.fold(values)
    live = reference.empty_like()
    live.fold(values + 1.0)
    p, q = reference.proportions(), live.proportions()
    at = centres(reference)
    expected = stats.wasserstein_distance(at, at, p, q) / reference.std()
    assert wasserstein(reference, p, q) == pytest.approx(expected)
    assert 0.3 < wasserstein(reference, p, q) < 0.7  # a shift of half a std, roughly


def test_ks_on_binned_cdfs_uses_the_asymptotic_distribution() -> None:
    reference = Column("numeric", np.array([50, 50, 0]), [1.0, 2.0])
    live = Column("numeric", np.array([10, 50, 40]), [1.0, 2.0])
    d, p_value = ks_binned(reference, live)
    assert d == pytest.approx(0.4)
    assert p_value == pytest.approx(stats.kstwobign.sf(0.4 * math.sqrt(50)))


def test_chi_square_is_scipys_goodness_of_fit() -> None:
    reference = Column("categorical", np.array([60, 30, 10]), [], ["a", "b", OTHER])
    live = Column("categorical", np.array([20, 20, 10]), [], ["a", "b", OTHER])
    statistic, p_value = chi_square(reference, live)
    expected = stats.chisquare([20, 20, 10], [30, 15, 5])
    assert (statistic, p_value) == pytest.approx((expected.statistic, expected.pvalue))


# --- profiles ---------------------------------------------------------------------------------
def test_a_reference_has_deciles_categories_predictions_and_metrics() -> None:
    frame = pd.DataFrame(
        {
            "x": RNG.normal(size=1000),
            "few": RNG.integers(0, 3, 1000).astype(float),
            "colour": RNG.choice(["red", "green"], 1000),
        }
    )
    reference = reference_profile(frame, np.zeros(200), "classification", {"accuracy": 0.9}, [0, 1])
    x = reference.columns["x"]
    assert len(x.edges) == 9 and x.n == 1000 and x.counts.min() >= 90
    assert len(reference.columns["few"].counts) == 3  # one bin per value
    assert reference.columns["colour"].categories[-1] == OTHER
    assert reference.columns[PREDICTION].categories == ["0", "1", OTHER]
    assert reference.features == ["x", "few", "colour"]
    again = Profile.from_json(json.loads(json.dumps(reference.to_json())))
    assert again.to_json() == reference.to_json()


def test_merging_is_associative() -> None:
    reference = _reference()
    parts = [_live(reference, *_resample(300, seed)) for seed in (1, 2, 3)]
    left = copy.deepcopy(parts[0]).merge(copy.deepcopy(parts[1])).merge(copy.deepcopy(parts[2]))
    right_tail = copy.deepcopy(parts[1]).merge(copy.deepcopy(parts[2]))
    right = copy.deepcopy(parts[0]).merge(right_tail)
    for name, column in left.columns.items():
        other = right.columns[name]
        assert column.counts.tolist() == other.counts.tolist()
        assert (column.missing, column.low, column.high) == (other.missing, other.low, other.high)
        assert column.total == pytest.approx(other.total)
    assert left.rows == right.rows == 900


def test_a_million_rows_take_no_more_memory_than_a_hundred() -> None:
    reference = _reference()
    frame, predictions = _resample(100)
    folder = Folder(reference)
    folder.fold(frame, predictions)
    size = len(json.dumps(folder.profile().to_json()))
    big = pd.concat([frame] * 10_000, ignore_index=True)
    folder.fold(big, np.tile(predictions, 10_000))
    live = folder.profile()
    assert live.rows == 1_000_100
    assert len(json.dumps(live.to_json())) <= size + 30 * 8 * 12  # a few more digits per count


# --- verdicts ---------------------------------------------------------------------------------
def test_rows_from_the_training_distribution_do_not_drift() -> None:
    report = drift_report(_reference(), _live(_reference(), *_resample(2000)), MonitoringConfig())
    assert report.verdict == "no_drift"
    assert not [f.name for f in report.features if f.drifted]
    assert report.prediction is not None and not report.prediction.drifted


def test_two_shifted_features_are_flagged_and_the_share_rule_decides() -> None:
    reference = _reference()
    features, _ = _cancer()
    frame, predictions = _resample(2000)
    shifted = ["mean radius", "worst texture"]
    for name in shifted:
        frame[name] += 2 * features[name].std()
    report = drift_report(reference, _live(reference, frame, predictions), MonitoringConfig())
    assert {f.name for f in report.features if f.drifted} == set(shifted)
    assert [f.name for f in report.features[:2]] == sorted(
        shifted, key=lambda n: -next(f.score for f in report.features if f.name == n)
    )
    assert report.drifted_share == pytest.approx(2 / 30, abs=1e-6)
    assert report.verdict == "no_drift"  # 2 of 30 features, predictions unchanged
    strict = drift_report(
        reference, _live(reference, frame, predictions), MonitoringConfig(feature_share=0.05)
    )
    assert strict.verdict == "drift"


def test_shifted_predictions_alone_make_the_model_drift() -> None:
    reference = _reference()
    frame, _ = _resample(2000)
    report = drift_report(
        reference, _live(reference, frame, np.ones(2000, int)), MonitoringConfig()
    )
    assert report.prediction is not None and report.prediction.drifted
    assert report.verdict == "drift"


def test_no_verdict_below_min_rows_and_tests_on_small_windows() -> None:
    reference = _reference()
    features, _ = _cancer()
    few = _live(reference, *_resample(50))
    assert drift_report(reference, few, MonitoringConfig()).verdict == "insufficient_data"
    frame, predictions = _resample(300)
    frame["mean radius"] += 2 * features["mean radius"].std()
    report = drift_report(reference, _live(reference, frame, predictions), MonitoringConfig())
    radius = next(f for f in report.features if f.name == "mean radius")
    assert radius.method == "ks" and radius.p_value is not None and radius.p_value < 0.05
    assert radius.drifted


def test_wasserstein_can_be_chosen_per_model() -> None:
    reference = _reference()
    features, _ = _cancer()
    frame, predictions = _resample(2000)
    frame["mean area"] += 2 * features["mean area"].std()
    config = MonitoringConfig(numeric_method="wasserstein")
    report = drift_report(reference, _live(reference, frame, predictions), config)
    area = next(f for f in report.features if f.name == "mean area")
    assert area.method == "wasserstein" and area.drifted and area.score > 1.0


# --- live side --------------------------------------------------------------------------------
def test_generated_ids_tell_their_age_and_callers_ids_do_not() -> None:
    pid = new_prediction_id(now=1_700_000_000.5)
    assert issued_at(pid) == pytest.approx(1_700_000_000.5)
    assert issued_at("order-42") is None
    assert new_prediction_id() != new_prediction_id()


def test_windows_merge_replicas_and_forget_rows_older_than_the_window() -> None:
    reference = _reference()
    windows = Windows()
    for replica in (1, 2):
        tap = Tap()
        tap.fold(("cancer", "1"), reference, *_resample(100, replica))
        windows.ingest(tap.drain().profiles, now=1000.0)
    live, since = windows.live(("cancer", "1"), 3600, now=1001.0)
    assert live.rows == 200 and since == 960.0
    later, _ = windows.live(("cancer", "1"), 600, now=2000.0)
    assert later.rows == 0


# --- prediction log, feedback, quality ----------------------------------------------------------
@pytest.fixture
def log(tmp_path: Path) -> PredictionLog:
    return PredictionLog(StateStore(f"sqlite:///{tmp_path / 'state.db'}").engine)


def test_feedback_joins_by_id_and_row_and_counts_the_rest(log: PredictionLog) -> None:
    monitor = Monitor({}, log)
    tap = Tap()
    now = 1_800_000_000.0
    pid = new_prediction_id(now)
    tap.keep(("cancer", "3"), pid, [1, 0], now)
    monitor.ingest(tap.drain(), now)
    old = new_prediction_id(now - 8 * 86_400)  # past the 7-day retention
    items = [
        FeedbackItem(pid, 0, 1),
        FeedbackItem(pid, 1, 1),
        FeedbackItem(pid, 2, 1),  # no third row
        FeedbackItem("somebody-else", 0, 1),
        FeedbackItem(old, 0, 0),
    ]
    counts = monitor.label("cancer", items, now)
    assert counts == {"received": 5, "joined": 2, "unknown": 2, "expired": 1}
    labelled = log.labelled("cancer", "3", 10)
    assert sorted((r.predicted, r.label) for r in labelled) == [(0, 1), (1, 1)]
    # The same id under another model is not joined.
    assert monitor.label("iris", [FeedbackItem(pid, 0, 1)], now)["unknown"] == 1


def test_a_reused_id_keeps_the_first_prediction(log: PredictionLog) -> None:
    log.add([PredictedRequest("m", "id-1", "1", ["a"], 1.0)])
    log.add([PredictedRequest("m", "id-1", "2", ["b"], 2.0)])
    log.label("m", [("id-1", 0, "a")])
    assert [(r.version, r.predicted) for r in log.labelled("m", "1", 5)] == [("1", "a")]


def test_labels_join_rows_of_multi_row_requests_and_can_be_corrected(log: PredictionLog) -> None:
    log.add([PredictedRequest("m", "batch", "1", [0, 1, 2], 1.0)])
    found = log.label("m", [("batch", 0, 0), ("batch", 2, 1), ("batch", 3, 1)], now=5.0)
    assert found == {("batch", 0): "1", ("batch", 2): "1"}  # there is no row 3
    log.label("m", [("batch", 2, 2)], now=6.0)  # a corrected label replaces the first
    pairs = sorted((r.predicted, r.label) for r in log.labelled("m", "1", 10))
    assert pairs == [(0, 0), (2, 2)]
    assert log.labelled_versions("m") == {"1": 2}
    assert len(log.labelled("m", "1", 1)) == 1


def test_retention_by_age_and_by_rows(log: PredictionLog) -> None:
    log.add(PredictedRequest("m", f"id-{i}", "1", [0, 1], float(i)) for i in range(100))
    log.add([PredictedRequest("other", "x", "1", [0], 0.0)])
    assert log.prune("m", older_than=10.0, keep_rows=1000) == 10  # requests 0-9
    assert log.prune("m", older_than=0.0, keep_rows=100) == 40  # 50 requests of 2 rows stay
    assert set(log.models()) == {"m", "other"}
    assert log.label("m", [("id-49", 0, 1), ("id-50", 0, 1)]) == {("id-50", 0): "1"}


def test_thirty_percent_wrong_labels_give_live_accuracy_and_an_alarm(log: PredictionLog) -> None:
    reference = _reference()
    monitor = Monitor({"cancer": MonitoringConfig()}, log)
    tap = Tap()
    frame, predictions = _resample(1000)
    ids = [new_prediction_id(1_800_000_000.0 + i) for i in range(1000)]
    for pid, (_, row), predicted in zip(ids, frame.iterrows(), predictions, strict=True):
        tap.fold(("cancer", "1"), reference, row.to_frame().T, [predicted])
        tap.keep(("cancer", "1"), pid, [int(predicted)], 1_800_000_000.0)
    monitor.ingest(tap.drain(), now=1_800_000_000.0)
    wrong = set(RNG.choice(1000, 300, replace=False).tolist())
    labels = [
        FeedbackItem(pid, 0, int(1 - p) if i in wrong else int(p))
        for i, (pid, p) in enumerate(zip(ids, predictions, strict=True))
    ]
    assert monitor.label("cancer", labels, 1_800_000_100.0)["joined"] == 1000
    version = monitor.report("cancer", now=1_800_000_100.0)["versions"][0]
    quality = version["quality"]
    assert quality["labelled"] == 1000
    assert quality["live"]["accuracy"] == pytest.approx(0.7, abs=0.02)
    assert quality["training"]["accuracy"] == 0.95
    assert quality["alarm"] is True and quality["drop"] == pytest.approx(0.25, abs=0.02)
    assert len(quality["series"]) == 20 and quality["series"][0]["rows"] == 50
    assert version["drift"]["verdict"] == "no_drift"
    assert version["feedback"] == {"joined": 1000}


def test_regression_quality_compares_errors_with_the_test_errors() -> None:
    target = load_diabetes().target[:200]
    live = live_metrics("regression", list(target + 10.0), list(target))
    assert live == pytest.approx({"rmse": 10.0, "mae": 10.0})
    training = training_metrics("regression", {"neg_rmse": -8.0, "neg_mae": -6.0, "r2": 0.4})
    assert training == {"rmse": 8.0, "mae": 6.0}
    config = MonitoringConfig(min_labels=100)
    assert quality_alarm("regression", live, training, 200, config) == (True, 0.25)
    assert quality_alarm("regression", live, training, 50, config) == (None, None)


def test_the_serving_folder_counts_exactly_what_the_column_by_column_fold_counts() -> None:
    frame = pd.DataFrame(
        {
            "x": RNG.normal(size=500),
            "few": RNG.integers(0, 3, 500).astype(float),
            "colour": RNG.choice(["red", "green", "blue"], 500),
            "y": RNG.exponential(size=500),
        }
    )
    reference = reference_profile(frame, RNG.integers(0, 2, 500), "classification", {}, [0, 1])
    live = frame.sample(300, random_state=1).reset_index(drop=True)
    live.loc[[3, 7], "x"] = np.nan
    live.loc[5, "colour"] = None
    live.loc[9, "x"] = 1e9  # beyond every edge
    predictions = RNG.integers(0, 3, 300)  # class 2 was never predicted: OTHER
    slow = reference.empty_like()  # each column on its own, as the reference was counted
    for name in reference.features:
        slow.columns[name].fold(live[name].to_numpy())
    slow.columns[PREDICTION].fold(predictions)
    slow.rows = len(live)
    folder = Folder(reference)
    folder.fold(live.iloc[:100], predictions[:100])
    folder.fold(live.iloc[100:].reset_index(drop=True), predictions[100:])
    fast = folder.profile()
    assert fast.rows == slow.rows == 300
    for name, column in slow.columns.items():
        got = fast.columns[name]
        assert got.counts.tolist() == column.counts.tolist(), name
        assert (got.missing, got.low, got.high) == (column.missing, column.low, column.high)
        assert got.total == pytest.approx(column.total)
        assert got.squares == pytest.approx(column.squares)
    assert fast.columns["x"].missing == 2 and fast.columns["colour"].missing == 1
