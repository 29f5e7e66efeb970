"""Schedule spec validation: a bad schedule names its source, the field and what is allowed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from rayline.config import CONFIG_DIR, TrainConfig
from rayline.scheduling import (
    NewDataTrigger,
    ScheduleError,
    ScheduleSpec,
    describe,
    load_training_config,
    parse_every,
    parse_schedule,
)
from tests.conftest import write_config

INLINE = {
    "name": "inline_iris",
    "dataset": {"source": "iris"},
    "estimators": {"linear": {}},
}


def schedule(**fields: Any) -> dict[str, Any]:
    """A valid nightly schedule of the shipped iris config with `fields` changed."""
    data: dict[str, Any] = {"name": "nightly", "config": "iris", "cron": "0 2 * * *"}
    data.update(fields)
    return {key: value for key, value in data.items() if value is not None}


def error_of(data: Any, source: str = "request body", where: str = "") -> str:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(data, source, where)
    return str(caught.value)


def test_minimal_schedule_has_documented_defaults() -> None:
    spec = parse_schedule(schedule(), "request body")
    assert spec.trigger == "cron"
    assert (spec.timezone, spec.concurrency, spec.missed) == ("UTC", "forbid", "run_once")
    assert (spec.starting_deadline_s, spec.max_retries, spec.retry_backoff_s) == (3600, 0, 60)
    assert (spec.timeout_s, spec.paused, spec.webhook_url) == (None, False, None)


def test_every_field_has_a_description() -> None:
    for model in (ScheduleSpec, NewDataTrigger):
        missing = [name for name, field in model.model_fields.items() if not field.description]
        assert missing == []


def test_inline_spec_and_config_path_are_accepted(tmp_path: Path) -> None:
    inline = parse_schedule(
        schedule(config=None, spec=INLINE, cron=None, every="30m"), "request body"
    )
    assert isinstance(load_training_config(inline), TrainConfig)
    assert load_training_config(inline).name == "inline_iris"
    assert inline.trigger == "every" and inline.interval == timedelta(minutes=30)

    path = write_config(tmp_path, "from_file")
    by_path = parse_schedule(schedule(config=str(path), cron=None, on_new_data={}), "request body")
    assert load_training_config(by_path).name == "from_file"
    assert by_path.trigger == "on_new_data"
    assert by_path.on_new_data == NewDataTrigger(source=None, check_every_s=60, settle_s=30)


def test_shipped_config_name_loads_that_config() -> None:
    assert load_training_config(parse_schedule(schedule(), "x")).name == "iris"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"cron": "0 25 * * *"},
            "request body: cron: hour (field 2 of 5) '25': 25 is out of range; allowed: 0-23",
        ),
        ({"cron": "0 2 * *"}, "request body: cron: '0 2 * *': expected 5 fields"),
        (
            {"timezone": "Europe/Madird"},
            "request body: timezone: unknown time zone 'Europe/Madird'; use an IANA name",
        ),
        ({"name": "Nightly Run"}, "request body: name: 'Nightly Run': use 1-48 characters"),
        ({"name": "x" * 49}, "request body: name:"),
        ({"cron": None, "every": "30s"}, "request body: every: '30s' is shorter than"),
        ({"cron": None, "every": "1.5h"}, "request body: every: '1.5h' is not an interval"),
        ({"concurrency": "queue"}, "request body: concurrency: Input should be 'forbid'"),
        ({"missed": "all"}, "request body: missed: Input should be 'skip' or 'run_once'"),
        ({"max_retries": 11}, "request body: max_retries: Input should be less than"),
        ({"starting_deadline_s": 10}, "request body: starting_deadline_s:"),
        ({"webhook_url": "ftp://example.com/x"}, "request body: webhook_url: 'ftp://example.com"),
        ({"webhook_url": "https://"}, "webhook_url: 'https://': use an http:// or https:// URL"),
        (
            {"cron": None, "on_new_data": {"check_every_s": 0}},
            "request body: on_new_data.check_every_s: Input should be greater than 0",
        ),
        (
            {"on_new_data_": {}},
            "request body: unknown key 'on_new_data_'; allowed here: name, config, spec, cron",
        ),
        (
            {"cron": None, "on_new_data": {"settle": 5}},
            "unknown key 'on_new_data.settle'; allowed here: source, check_every_s, settle_s",
        ),
    ],
)
def test_bad_fields_are_explained(fields: dict[str, Any], expected: str) -> None:
    assert expected in error_of(schedule(**fields))


def test_unknown_config_lists_the_shipped_names() -> None:
    message = error_of(schedule(config="iriss"))
    assert message.startswith("request body: config: iriss: no such config file")
    shipped = sorted(path.stem for path in CONFIG_DIR.glob("*.yaml"))
    assert "shipped configs: " + ", ".join(shipped) in message
    assert {"iris", "breast_cancer", "diabetes"} <= set(shipped)


def test_bad_inline_spec_names_its_keys() -> None:
    bad = {**INLINE, "search": {"num_sampels": 3}}
    message = error_of(schedule(config=None, spec=bad))
    assert message.startswith("request body: spec: unknown key 'search.num_sampels'")
    assert "num_samples" in message


def test_both_or_neither_config_and_spec_is_refused() -> None:
    both = error_of(schedule(spec=INLINE))
    assert both.startswith("request body: give exactly one of config")
    assert "and spec" in both and "got both" in both
    assert "got neither" in error_of(schedule(config=None))


def test_exactly_one_trigger() -> None:
    none = error_of(schedule(cron=None))
    assert "give exactly one trigger of cron, every, on_new_data and on_drift; got none" in none
    two = error_of(schedule(every="1h"))
    assert "got cron and every" in two


def test_source_and_place_in_it_prefix_every_line() -> None:
    message = error_of(
        schedule(cron="* * * * 9", extra=1), "serve_config.yaml", "args.schedules[1]"
    )
    lines = message.splitlines()
    assert "serve_config.yaml: args.schedules[1].cron: day-of-week (field 5 of 5) '9'" in lines[0]
    assert lines[1].startswith("serve_config.yaml: unknown key 'args.schedules[1].extra'")
    message = error_of(schedule(config=None, spec={"name": "x"}), "serve_config.yaml", "s[0]")
    assert all(line.startswith("serve_config.yaml: s[0].spec: ") for line in message.splitlines())


def test_not_a_mapping_is_refused() -> None:
    assert error_of(["nightly"], "request body") == "request body: expected a mapping of keys"


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86_400), ("60s", 60)]
)
def test_every_intervals(text: str, seconds: int) -> None:
    assert parse_every(text) == timedelta(seconds=seconds)


def test_spec_is_immutable() -> None:
    spec = parse_schedule(schedule(), "request body")
    with pytest.raises(ValueError, match="frozen"):
        spec.paused = True  # type: ignore[misc]
    assert spec.model_copy(update={"paused": True}).paused


def test_serve_config_schedules_are_validated_naming_their_place() -> None:
    from pydantic import ValidationError

    from serve_app.schemas import AppArgs

    args = {
        "models": [{"name": "iris"}],
        "schedules": [
            {"name": "nightly", "config": "iris", "cron": "0 2 * * *"},
            {"name": "broken", "config": "iris", "cron": "0 25 * * *"},
        ],
    }
    with pytest.raises(ValidationError) as caught:
        AppArgs.model_validate(args)
    assert "schedules.1.cron" in str(caught.value)
    assert "hour (field 2 of 5)" in str(caught.value)


def test_the_shipped_serve_config_schedules_are_valid() -> None:
    import yaml

    from rayline.settings import PROJECT_ROOT
    from serve_app.schemas import AppArgs

    config = yaml.safe_load((PROJECT_ROOT / "serve_config.yaml").read_text())
    args = AppArgs.model_validate(config["applications"][0]["args"])
    assert [s.name for s in args.schedules] == ["nightly-breast-cancer"]
    deployments = {d["name"]: d for d in config["applications"][0]["deployments"]}
    # One scheduler per cluster: the Metrics deployment runs it, one replica on the head.
    assert "Scheduler" not in deployments
    metrics = deployments["Metrics"]
    assert metrics["num_replicas"] == 1 and "autoscaling_config" not in metrics
    assert "node:__internal_head__" in metrics["ray_actor_options"]["resources"]


def test_a_drift_trigger_is_described_in_words() -> None:
    spec = parse_schedule(
        {"name": "watch", "config": "iris", "on_drift": {"model": "iris", "on": ["drift"]}}, "test"
    )
    assert spec.trigger == "on_drift"
    assert describe(spec) == "when iris drifts (at most once every 6 h)"
