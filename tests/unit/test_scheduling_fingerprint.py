"""Data fingerprints (local files and folders; S3 through a stand-in client) and the settle
decision for `on_new_data` schedules, with a fake clock."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from rayline.scheduling import (
    FingerprintError,
    Observation,
    fingerprint,
    new_data_due,
    observe,
    settled,
)
from rayline.settings import Settings

# `rayline.scheduling.fingerprint` the attribute is the function; this is the module.
fingerprint_module = importlib.import_module("rayline.scheduling.fingerprint")
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def seconds(n: float) -> datetime:
    return T0 + timedelta(seconds=n)


def write(path: Path, text: str, mtime_s: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, ns=(mtime_s * 10**9, mtime_s * 10**9))


@pytest.fixture
def settings() -> Settings:
    return Settings()


def test_local_file_changes_when_rewritten(tmp_path: Path, settings: Settings) -> None:
    data = tmp_path / "data.csv"
    write(data, "a,b\n1,2\n", 1_000)
    first = fingerprint(str(data), settings)
    assert first is not None
    assert fingerprint(str(data), settings) == first  # stable while untouched
    write(data, "a,b\n1,2\n3,4\n", 2_000)
    assert fingerprint(str(data), settings) not in (None, first)
    # Same size and content, newer modification time: still a change.
    before = fingerprint(str(data), settings)
    os.utime(data, ns=(3_000 * 10**9, 3_000 * 10**9))
    assert fingerprint(str(data), settings) != before


def test_missing_sources_have_no_fingerprint(tmp_path: Path, settings: Settings) -> None:
    assert fingerprint(str(tmp_path / "nope.csv"), settings) is None
    assert fingerprint(str(tmp_path / "nope" / "data.csv"), settings) is None
    (tmp_path / "file").write_text("x")
    assert fingerprint(str(tmp_path / "file" / "child"), settings) is None
    (tmp_path / "empty").mkdir()
    assert fingerprint(str(tmp_path / "empty"), settings) is None


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer", "digits", "diabetes"])
def test_builtin_datasets_have_no_fingerprint(name: str, settings: Settings) -> None:
    assert fingerprint(name, settings) is None


def test_directory_follows_its_newest_file(tmp_path: Path, settings: Settings) -> None:
    write(tmp_path / "part-0.parquet", "old", 1_000)
    write(tmp_path / "year=2026" / "part-1.parquet", "new", 2_000)
    first = fingerprint(str(tmp_path), settings)
    assert first is not None and "part-1.parquet" in first
    # Touching an older file without making it the newest changes nothing.
    write(tmp_path / "part-0.parquet", "old", 1_500)
    assert fingerprint(str(tmp_path), settings) == first
    # A new newest file does.
    write(tmp_path / "part-2.parquet", "newer", 3_000)
    second = fingerprint(str(tmp_path), settings)
    assert second is not None and "part-2.parquet" in second and second != first


class FakeS3:
    """Answers `head_object` and `list_objects_v2` pages from a dict of key → metadata."""

    def __init__(self, objects: dict[str, dict[str, Any]], error: str | None = None) -> None:
        self.objects = objects
        self.error = error

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        if self.error or Key not in self.objects:
            raise ClientError({"Error": {"Code": self.error or "404"}}, "HeadObject")
        return self.objects[Key]

    def get_paginator(self, name: str) -> FakeS3:
        assert name == "list_objects_v2"
        return self

    def paginate(self, Bucket: str, Prefix: str) -> Iterator[dict[str, Any]]:
        if self.error:
            raise ClientError({"Error": {"Code": self.error}}, "ListObjectsV2")
        items = [{"Key": k, **v} for k, v in self.objects.items() if k.startswith(Prefix)]
        for i in range(0, len(items), 2):  # two per page, to cross page boundaries
            yield {"Contents": items[i : i + 2]}


def s3_object(etag: str, size: int, minute: int) -> dict[str, Any]:
    modified = datetime(2026, 5, 1, 12, minute, tzinfo=UTC)
    return {"ETag": etag, "ContentLength": size, "Size": size, "LastModified": modified}


def use_s3(monkeypatch: pytest.MonkeyPatch, client: FakeS3) -> None:
    monkeypatch.setattr(fingerprint_module, "_s3_client", lambda settings: client)


def test_s3_object_and_prefix(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    objects = {
        "data/a.csv": s3_object('"e1"', 10, 1),
        "data/b.csv": s3_object('"e2"', 20, 5),
        "data/sub/": s3_object('"d"', 0, 9),  # folder marker
        "data/c.csv": s3_object('"e3"', 30, 3),
        "other.csv": s3_object('"e4"', 40, 8),
    }
    use_s3(monkeypatch, FakeS3(objects))
    one = fingerprint("s3://bucket/data/a.csv", settings)
    assert one is not None and '"e1"' in one and "10" in one
    assert fingerprint("s3://bucket/data/zzz.csv", settings) is None
    newest = fingerprint("s3://bucket/data/", settings)
    assert newest is not None and "data/b.csv" in newest and '"e2"' in newest
    assert fingerprint("s3://bucket/empty/", settings) is None
    objects["data/c.csv"] = s3_object('"e5"', 31, 7)
    assert fingerprint("s3://bucket/data/", settings) not in (None, newest)


def test_s3_access_denied_says_what_to_check(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    use_s3(monkeypatch, FakeS3({}, error="AccessDenied"))
    with pytest.raises(FingerprintError, match="s3://bucket/x.csv: .*AccessDenied.*RAYLINE_AWS"):
        fingerprint("s3://bucket/x.csv", settings)


def test_settled_needs_an_existing_unchanged_fingerprint() -> None:
    assert not settled(None, T0, seconds(999), 30)
    assert not settled("f1", T0, seconds(29.9), 30)
    assert settled("f1", T0, seconds(30), 30)
    assert settled("f1", T0, T0, 0)


def test_observe_restarts_the_clock_on_every_change() -> None:
    first = observe(None, "f1", T0)
    assert first == Observation("f1", T0)
    assert observe(first, "f1", seconds(20)) is first
    assert observe(first, "f2", seconds(20)) == Observation("f2", seconds(20))
    assert observe(first, None, seconds(20)) == Observation(None, seconds(20))


def test_a_file_still_being_written_fires_only_once_it_settles() -> None:
    """A poll every 10 s while the file grows for 25 s, then stays; settle time 30 s."""
    sizes = {0: "f-100", 10: "f-200", 20: "f-300"}
    seen: Observation | None = None
    last_fired: str | None = "f-0"  # the run before this upload
    fired_at = []
    for t in range(0, 120, 10):
        current = sizes[min(t, 20)]
        seen = observe(seen, current, seconds(t))
        if new_data_due(current, last_fired, seen.first_seen_at, seconds(t), settle_s=30):
            fired_at.append(t)
            last_fired = current
    assert fired_at == [50]  # unchanged since t=20, settled at t=50; never again


def test_new_data_due_decisions() -> None:
    assert new_data_due("f2", "f1", T0, seconds(30), 30)
    assert new_data_due("f1", None, T0, seconds(30), 30)  # never fired before
    assert not new_data_due("f1", "f1", T0, seconds(300), 30)  # already fired for it
    assert not new_data_due(None, "f1", T0, seconds(300), 30)  # the data is gone
    assert not new_data_due("f2", "f1", T0, seconds(10), 30)  # not settled yet
