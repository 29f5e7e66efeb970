"""Fingerprints of training data (local files and folders, S3 objects and prefixes) and the
decision to start an `on_new_data` run once a change has settled.

A fingerprint is an opaque string that changes when the data does; it is read from metadata
only (sizes, modification times, ETags), never from the data itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rayline.config import BUILTIN_DATASETS
from rayline.settings import Settings
from rayline.stack import s3_credentials as _s3_credentials

_NOT_FOUND = ("404", "NoSuchKey", "NotFound", "NoSuchBucket")


class FingerprintError(OSError):
    """The data source exists but cannot be read; the message says what to check."""


@dataclass(frozen=True)
class Observation:
    """The fingerprint last seen and since when it has been the same."""

    fingerprint: str | None
    first_seen_at: datetime


def fingerprint(source: str, settings: Settings) -> str | None:
    """The current fingerprint of a data source; None if it does not exist or is a built-in
    dataset (iris, wine, ...), which never changes."""
    if source in BUILTIN_DATASETS:
        return None
    if source.startswith("s3://"):
        bucket, _, key = source.removeprefix("s3://").partition("/")
        if not key or key.endswith("/"):
            return _s3_prefix(bucket, key, settings)
        return _s3_object(bucket, key, settings)
    return _local(Path(source))


def observe(previous: Observation | None, current: str | None, now: datetime) -> Observation:
    """The observation after looking at the data `now`: the clock restarts on every change."""
    if previous is not None and previous.fingerprint == current:
        return previous
    return Observation(current, now)


def settled(fingerprint: str | None, seen_since: datetime, now: datetime, settle_s: float) -> bool:
    """Whether an existing fingerprint has stayed the same for `settle_s` seconds."""
    return fingerprint is not None and now - seen_since >= timedelta(seconds=settle_s)


def new_data_due(
    current: str | None,
    last_fired: str | None,
    first_seen_at: datetime,
    now: datetime,
    settle_s: float,
) -> bool:
    """Whether to start a run: the data exists, differs from what the last run was started
    for, and has stayed the same for `settle_s` seconds (since `first_seen_at`)."""
    return current != last_fired and settled(current, first_seen_at, now, settle_s)


def _local(path: Path) -> str | None:
    try:
        if not path.is_dir():
            stat = path.stat()
            return f"file:{stat.st_size}:{stat.st_mtime_ns}"
    except (FileNotFoundError, NotADirectoryError):
        return None
    newest: tuple[int, str, int] | None = None
    for folder, _, names in os.walk(path):
        for name in names:
            file = Path(folder, name)
            try:
                stat = file.stat()
            except FileNotFoundError:  # removed while we walked
                continue
            entry = (stat.st_mtime_ns, str(file.relative_to(path)), stat.st_size)
            newest = max(newest, entry) if newest is not None else entry
    if newest is None:
        return None
    mtime_ns, name, size = newest
    return f"dir:{name}:{size}:{mtime_ns}"


def _s3_object(bucket: str, key: str, settings: Settings) -> str | None:
    from botocore.exceptions import ClientError

    try:
        head = _s3_client(settings).head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if _error_code(exc) in _NOT_FOUND:
            return None
        raise _unreadable(f"s3://{bucket}/{key}", settings, exc) from None
    return f"s3:{head['ETag']}:{head['ContentLength']}:{head['LastModified'].isoformat()}"


def _s3_prefix(bucket: str, prefix: str, settings: Settings) -> str | None:
    from botocore.exceptions import ClientError

    newest: dict[str, Any] | None = None
    try:
        pages = _s3_client(settings).get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if item["Key"].endswith("/"):  # a folder marker, not data
                    continue
                if newest is None or (item["LastModified"], item["Key"]) > (
                    newest["LastModified"],
                    newest["Key"],
                ):
                    newest = item
    except ClientError as exc:
        if _error_code(exc) in _NOT_FOUND:
            return None
        raise _unreadable(f"s3://{bucket}/{prefix}", settings, exc) from None
    if newest is None:
        return None
    return (
        f"s3prefix:{newest['Key']}:{newest['ETag']}:{newest['Size']}:"
        f"{newest['LastModified'].isoformat()}"
    )


def _s3_client(settings: Settings) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=settings.s3_endpoint_url, **_s3_credentials(settings))


def _error_code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _unreadable(source: str, settings: Settings, exc: Any) -> FingerprintError:
    return FingerprintError(
        f"{source}: cannot read it at {settings.s3_endpoint_url or 'AWS'}: "
        f"{_error_code(exc) or exc}; check RAYLINE_S3_ENDPOINT_URL, RAYLINE_AWS_ACCESS_KEY_ID "
        "and RAYLINE_AWS_SECRET_ACCESS_KEY"
    )
