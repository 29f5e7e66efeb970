"""rayline.keys: API keys from RAYLINE_API_KEYS (production) or the keys file (`make up`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rayline import keys, stack
from rayline.settings import Settings


def test_parse_keys_reads_pairs_separated_by_commas_or_lines() -> None:
    text = " admin : a1 , predict:p1\npredict:p2,,\n  admin:a:with:colons  \n"
    assert keys.parse_keys(text) == [
        ("admin", "a1"),
        ("predict", "p1"),
        ("predict", "p2"),
        ("admin", "a:with:colons"),
    ]


def test_parse_keys_skips_unknown_roles_and_empty_keys() -> None:
    assert keys.parse_keys("root:r1,Admin:x,admin:,predict: ,:k,nocolon,predict:p") == [
        ("predict", "p")
    ]
    assert keys.parse_keys("") == []


def test_keys_from_the_environment_with_commas_and_spaces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Production mode: keys only in RAYLINE_API_KEYS, no keys file in home.
    monkeypatch.setenv("RAYLINE_HOME", str(tmp_path))
    monkeypatch.setenv("RAYLINE_API_KEYS", "predict:p1, admin:a1 ,bogus:x")
    settings = Settings()
    assert not settings.keys_file.exists()
    assert keys.read_keys(settings) == [("predict", "p1"), ("admin", "a1")]
    assert stack.admin_key(settings) == "a1" and keys.admin_key(settings) == "a1"


def test_keys_from_the_file_make_up_writes(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert keys.read_keys(settings) == [] and stack.admin_key(settings) is None
    stack.ensure_api_keys(settings)
    found = dict(keys.read_keys(settings))
    assert set(found) == {"admin", "predict"}
    assert found["admin"] in settings.keys_file.read_text()
    assert stack.admin_key(settings) == found["admin"]


def test_environment_wins_over_the_file(tmp_path: Path) -> None:
    (tmp_path / "api_keys").write_text("admin:from-file\npredict:p-file\n")
    settings = Settings(home=tmp_path, api_keys="admin:from-env")
    assert keys.read_keys(settings) == [("admin", "from-env")]
    assert stack.admin_key(settings) == "from-env"
    only_predict = Settings(home=tmp_path, api_keys="predict:p-env")
    assert stack.admin_key(only_predict) is None  # not the file's admin key
