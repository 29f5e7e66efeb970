"""Datasets: built-ins, checks with clear errors, digests and the held-out split."""

from __future__ import annotations

import pandas as pd
import pytest
import sklearn.datasets

from rayline import datasets
from rayline.config import DatasetConfig, SplitConfig
from rayline.datasets import DatasetError
from rayline.settings import Settings


@pytest.mark.parametrize(
    ("name", "rows"),
    [("iris", 150), ("wine", 178), ("breast_cancer", 569), ("digits", 1797), ("diabetes", 442)],
)
def test_builtin_datasets_load_with_a_target(name: str, rows: int) -> None:
    frame = datasets.load(DatasetConfig(source=name), Settings())
    assert len(frame) == rows and "target" in frame


def test_missing_target_names_the_column_and_lists_columns() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": [0, 1]})
    with pytest.raises(DatasetError, match="target column 'label' not found; columns: a, b"):
        datasets.check(frame, DatasetConfig(source="f.csv", target="label", task="classification"))


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"a": [], "y": []}), "no rows"),
        (pd.DataFrame({"y": [0, 1]}), "no feature columns"),
        (pd.DataFrame({"a": [1, 2], "y": [1, 1]}), "single class"),
        (pd.DataFrame({"a": [1, 2], "y": [1, None]}), "missing values"),
    ],
)
def test_unusable_data_is_refused(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        datasets.check(frame, DatasetConfig(source="f.csv", target="y", task="classification"))


def test_missing_file_is_named(tmp_path: object) -> None:
    config = DatasetConfig(source="/nonexistent/data.csv", task="regression")
    with pytest.raises(DatasetError, match="/nonexistent/data.csv: no such file"):
        datasets.read_with_ray_data(config, Settings())


def test_format_comes_from_suffix_or_config() -> None:
    assert datasets.file_format(DatasetConfig(source="x.parquet", task="regression")) == "parquet"
    assert datasets.file_format(DatasetConfig(source="s3://b/x.csv", task="regression")) == "csv"
    with pytest.raises(DatasetError, match="set dataset.format"):
        datasets.file_format(DatasetConfig(source="x.data", task="regression"))


@pytest.mark.parametrize("name", ["iris", "breast_cancer", "wine", "diabetes", "digits"])
def test_builtin_datasets_keep_their_own_column_names(name: str) -> None:
    # So a DataFrame a user loads from scikit-learn predicts as it is ("mean radius").
    frame = datasets.load_builtin(name)
    theirs = getattr(sklearn.datasets, f"load_{name}")(as_frame=True).frame
    assert list(frame.columns) == [str(c) for c in theirs.columns]


def test_digest_is_stable_and_sensitive() -> None:
    frame = datasets.load_builtin("iris")
    assert datasets.digest(frame) == datasets.digest(frame.copy())
    changed = frame.copy()
    changed.iloc[0, 0] += 0.1
    assert datasets.digest(changed) != datasets.digest(frame)


def test_split_is_stratified_and_reproducible() -> None:
    config = DatasetConfig(source="iris")
    frame = datasets.load_builtin("iris")
    a = datasets.split(frame, config, SplitConfig(test_size=0.2, seed=1))
    b = datasets.split(frame, config, SplitConfig(test_size=0.2, seed=1))
    assert len(a.X_test) == 30 and a.y_test.value_counts().tolist() == [10, 10, 10]
    assert a.X_test.index.tolist() == b.X_test.index.tolist()
    assert "target" not in a.X_train
