"""Datasets: built-in scikit-learn sets and CSV/Parquet files (local or `s3://`), read with
Ray Data, checked, digested and split into train and held-out test."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn import datasets as skd
from sklearn.model_selection import train_test_split

from rayline.config import BUILTIN_DATASETS, DatasetConfig, SplitConfig
from rayline.settings import Settings

_LOADERS = {
    "iris": skd.load_iris,
    "wine": skd.load_wine,
    "breast_cancer": skd.load_breast_cancer,
    "digits": skd.load_digits,
    "diabetes": skd.load_diabetes,
}


class DatasetError(ValueError):
    """Data that cannot be trained on; the message names the source and what is wrong."""


@dataclass(frozen=True)
class Split:
    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series


def load_builtin(name: str) -> pd.DataFrame:
    """A scikit-learn dataset as one frame with a `target` column."""
    bunch: Any = _LOADERS[name](as_frame=True)
    frame: pd.DataFrame = bunch.frame.copy()
    # The dataset's own column names ("mean radius", "sepal length (cm)"): a DataFrame a user
    # loads the same way predicts as it is.
    frame.columns = [str(c) for c in frame.columns]
    return frame


def file_format(config: DatasetConfig) -> str:
    if config.format:
        return config.format
    suffix = Path(config.source.split("?")[0]).suffix.lower()
    if suffix in (".csv", ".parquet", ".pq"):
        return "parquet" if suffix != ".csv" else "csv"
    raise DatasetError(
        f"dataset.source {config.source}: cannot tell the format from the suffix; "
        "set dataset.format to csv or parquet"
    )


def s3_filesystem(settings: Settings) -> Any:
    """A pyarrow S3 filesystem for the configured endpoint and credentials."""
    from pyarrow import fs

    kwargs: dict[str, Any] = {}
    if settings.s3_endpoint_url:
        scheme, _, host = settings.s3_endpoint_url.partition("://")
        kwargs.update(endpoint_override=host, scheme=scheme or "http")
    if settings.aws_access_key_id and settings.aws_secret_access_key:
        kwargs.update(
            access_key=settings.aws_access_key_id.get_secret_value(),
            secret_key=settings.aws_secret_access_key.get_secret_value(),
        )
    return fs.S3FileSystem(**kwargs)


def ray_dataset(config: DatasetConfig, settings: Settings, **read_args: Any) -> Any:
    """A Ray Data dataset over a CSV/Parquet file or `s3://` object (Ray must be initialised);
    `read_args` go to Ray's reader (`ray_remote_args`, ...)."""
    import ray.data

    fmt = file_format(config)
    source = config.source
    filesystem = None
    if source.startswith("s3://"):
        filesystem = s3_filesystem(settings)
        source = source.removeprefix("s3://")
    elif not Path(source).exists():
        raise DatasetError(f"dataset.source {config.source}: no such file")
    reader = ray.data.read_csv if fmt == "csv" else ray.data.read_parquet
    return reader(source, filesystem=filesystem, **read_args)


def read_with_ray_data(config: DatasetConfig, settings: Settings) -> pd.DataFrame:
    """Read a CSV/Parquet file or `s3://` object with Ray Data (Ray must be initialised)."""
    try:
        frame: pd.DataFrame = ray_dataset(config, settings).to_pandas()
    except (OSError, FileNotFoundError) as exc:
        raise DatasetError(f"dataset.source {config.source}: cannot read it: {exc}") from None
    return frame


def load(config: DatasetConfig, settings: Settings) -> pd.DataFrame:
    """The dataset as a checked frame."""
    if config.source in BUILTIN_DATASETS:
        frame = load_builtin(config.source)
    else:
        frame = read_with_ray_data(config, settings)
    check(frame, config)
    return frame


def check(frame: pd.DataFrame, config: DatasetConfig) -> None:
    """Refuse data a sweep cannot use, naming what is wrong."""
    where = f"dataset.source {config.source}"
    if frame.empty:
        raise DatasetError(f"{where}: the dataset has no rows")
    if config.target not in frame.columns:
        columns = ", ".join(map(str, frame.columns[:20]))
        raise DatasetError(
            f"{where}: target column '{config.target}' not found; columns: {columns}"
        )
    if frame.shape[1] < 2:
        raise DatasetError(f"{where}: no feature columns besides the target")
    if frame[config.target].isna().any():
        raise DatasetError(f"{where}: the target column '{config.target}' has missing values")
    if config.resolved_task == "classification" and frame[config.target].nunique() < 2:
        raise DatasetError(f"{where}: the target column has a single class")


def digest(frame: pd.DataFrame) -> str:
    """A content hash of the data (values and column names)."""
    hasher = hashlib.sha256("\x1f".join(map(str, frame.columns)).encode())
    hasher.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return hasher.hexdigest()


def split(frame: pd.DataFrame, config: DatasetConfig, split_config: SplitConfig) -> Split:
    """Held-out test split (stratified for classification); the rest is for CV and refit."""
    X = frame.drop(columns=[config.target])
    y = frame[config.target]
    stratify = y if config.resolved_task == "classification" else None
    try:
        X_train, X_test, y_train, y_test = train_test_split(
            X,
            y,
            test_size=split_config.test_size,
            random_state=split_config.seed,
            stratify=stratify,
        )
    except ValueError as exc:
        raise DatasetError(f"dataset.source {config.source}: cannot split: {exc}") from None
    return Split(X_train, X_test, y_train, y_test)
