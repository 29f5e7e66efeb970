"""The job's progress events are what the jobs routes read back."""

from __future__ import annotations

import pytest

from rayline.training import emit, parse_events


def test_emitted_events_parse_back(capsys: pytest.CaptureFixture[str]) -> None:
    emit("run", run_id="abc", url="http://x")
    emit("progress", trials_done=1, trials_total=4, best_score=0.9, metric="accuracy")
    emit("trial", trial=0, family="knn", score=0.9)
    emit("progress", trials_done=2, trials_total=4, best_score=0.95, metric="accuracy")
    emit("result", model="iris", version="2")
    logs = "noise\n" + capsys.readouterr().out + "@rayline {broken\n"
    events = parse_events(logs)
    assert events["progress"] == {
        "trials_done": 2,
        "trials_total": 4,
        "best_score": 0.95,
        "metric": "accuracy",
    }
    assert events["trials"] == [{"trial": 0, "family": "knn", "score": 0.9}]
    assert events["run"]["run_id"] == "abc" and events["result"]["version"] == "2"


def test_no_events_means_nothing_known() -> None:
    assert parse_events("plain log\n") == {
        "progress": None,
        "trials": [],
        "run": None,
        "result": None,
        "step": None,
        "promotion": None,
    }


def test_the_last_step_and_the_promotion_gate_are_read_back() -> None:
    logs = "\n".join(
        [
            '@rayline {"event": "step", "name": "load"}',
            '@rayline {"event": "step", "name": "train"}',
            '@rayline {"event": "promotion", "metric": "f1", "score": 0.8, "champion_score": 0.9}',
        ]
    )
    events = parse_events(logs)
    assert events["step"] == {"name": "train"}
    assert events["promotion"]["champion_score"] == 0.9
