"""Training config validation: every shipped config loads; bad ones name file, key, values."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.train import main as train_main
from rayline.config import CONFIG_DIR, ConfigError, load_config, parse_config
from tests.conftest import write_config


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer", "digits", "diabetes"])
def test_shipped_configs_are_valid(name: str) -> None:
    config = load_config(name)
    assert config.name == name
    assert len(config.estimators) >= 4 or name in ("iris", "wine")
    assert config.task == ("regression" if name == "diabetes" else "classification")


def test_every_file_in_configs_train_is_valid() -> None:
    assert {p.stem for p in CONFIG_DIR.glob("*.yaml")} >= {"iris", "diabetes"}
    for path in CONFIG_DIR.glob("*.yaml"):
        load_config(path)


def test_unknown_key_names_file_key_and_allowed_keys(tmp_path: Path) -> None:
    path = write_config(tmp_path, "x", search={"num_sampels": 3})
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message
    assert "search.num_sampels" in message
    assert "num_samples" in message and "algorithm" in message


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"search": {"algorithm": "bayes"}}, "search.algorithm"),
        ({"estimators": {"xgboost": {}}}, "estimators.xgboost: unknown family"),
        ({"estimators": {"knn": {"depth": [1]}}}, "estimators.knn.depth: not a parameter"),
        (
            {
                "search": {"algorithm": "grid"},
                "estimators": {"linear": {"C": {"loguniform": [1, 2]}}},
            },
            "grid search needs a list",
        ),
        ({"estimators": {"linear": {"C": {"loguniform": [0, 2]}}}}, "must be positive"),
        ({"search": {"metric": "r2"}}, "search.metric: 'r2' is not a classification metric"),
        ({"split": {"test_size": 0.9}}, "split.test_size"),
        ({"dataset": {"source": "data.csv"}}, "dataset.task is required"),
        ({"dataset": {"source": "iris", "task": "regression"}}, "iris is a classification"),
        ({"description": 5}, "description"),
    ],
)
def test_bad_values_are_explained(
    tmp_path: Path, override: dict[str, object], expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(")):
        load_config(write_config(tmp_path, "x", **override))


def test_unknown_config_name_lists_shipped_ones() -> None:
    with pytest.raises(ConfigError, match="shipped configs: .*breast_cancer"):
        load_config("does_not_exist")


def test_a_folder_or_unreadable_file_is_a_config_error_not_a_crash(tmp_path: Path) -> None:
    # The schedules API fuzz test sent `config: "."`: a folder read as a file was a 500.
    for ref in (".", str(tmp_path)):
        with pytest.raises(ConfigError, match="no such config file"):
            load_config(ref)
    binary = tmp_path / "model.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="cannot read it as a text file"):
        load_config(binary)


def test_inline_spec_must_be_a_mapping() -> None:
    with pytest.raises(ConfigError, match="--spec: expected a mapping"):
        parse_config([1, 2], "--spec")


def test_job_refuses_a_bad_config_before_ray_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, "x", search={"algorithm": "bayes"})
    assert train_main([str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "'random' or 'grid'" in err


def test_digest_changes_with_content() -> None:
    a = load_config("iris")
    b = parse_config({**a.model_dump(mode="json"), "search": {"num_samples": 3}}, "b")
    assert a.digest() == load_config("iris").digest() != b.digest()
