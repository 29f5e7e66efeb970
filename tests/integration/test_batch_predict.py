"""The batch scoring Ray Job: Ray Data map_batches with the verified registered model."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from rayline.datasets import load_builtin
from tests.stack import BIN, Stack

pytestmark = pytest.mark.integration


def test_batch_predict_writes_parquet_with_predictions(
    stack: Stack, iris_model: dict[str, Any]
) -> None:
    frame = load_builtin("iris")
    source = stack.configs / "iris_batch.csv"
    frame.drop(columns="target").to_csv(source, index=False)
    output = stack.configs / "scores"
    result = stack.run(
        str(BIN / "ray"),
        "job",
        "submit",
        "--",
        "python",
        "-m",
        "jobs.batch_predict",
        "--model",
        "iris_it@champion",
        "--input",
        str(source),
        "--output",
        str(output),
    )
    assert f"scored 150 rows with iris_it version {iris_model['version']}" in result.stdout
    scored = pd.read_parquet(output)
    assert len(scored) == 150
    assert {"prediction", "proba_0", "proba_2", "model_version"} <= set(scored.columns)
    counts = scored["prediction"].value_counts()
    assert sorted(counts.index) == [0, 1, 2] and all(40 <= n <= 60 for n in counts)


def test_batch_predict_names_a_mismatched_input(stack: Stack, iris_model: dict[str, Any]) -> None:
    source = stack.configs / "wrong.csv"
    pd.DataFrame({"a": [1.0], "b": [2.0]}).to_csv(source, index=False)
    result = stack.run(
        str(BIN / "ray"),
        "job",
        "submit",
        "--",
        "python",
        "-m",
        "jobs.batch_predict",
        "--model",
        "iris_it@champion",
        "--input",
        str(source),
        "--output",
        str(stack.configs / "none"),
        check=False,
    )
    output = result.stdout + result.stderr
    assert "missing column(s) the model needs: sepal length (cm)" in output
    assert "failed" in output
