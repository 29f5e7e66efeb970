"""rayline.keys and `python -m rayline.stack keys`: keys a client holds (RAYLINE_API_KEYS or
the credentials file `make up` writes), keys the server keeps (salted hashes in the state
database), and the CLI that adds, revokes and lists them, each change audited."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from rayline import keys, stack
from rayline.settings import Settings
from rayline.stack import cli
from rayline.state import open_store
from rayline.state.access import AuditLog, KeyRecord, KeyStore


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
    assert not settings.credentials_file.exists()
    assert keys.read_keys(settings) == [("predict", "p1"), ("admin", "a1")]
    assert stack.admin_key(settings) == "a1" and keys.admin_key(settings) == "a1"


def test_make_up_keeps_hashes_in_the_database_and_the_keys_only_in_the_credentials_file(
    tmp_path: Path,
) -> None:
    settings = Settings(home=tmp_path)
    assert keys.read_keys(settings) == [] and stack.admin_key(settings) is None
    path = stack.ensure_api_keys(settings)
    assert path == settings.credentials_file and stat.S_IMODE(path.stat().st_mode) == 0o600
    found = dict(keys.read_keys(settings))
    assert set(found) == {"admin", "predict"} and stack.admin_key(settings) == found["admin"]
    stored = _stored(settings)
    assert {(r.id, r.role) for r in stored} == {(keys.key_id(k), r) for r, k in found.items()}
    database = (tmp_path / "state.db").read_bytes()
    assert not any(key.encode() in database for key in found.values())
    ring = keys.KeyRing.from_env(settings, stored)
    assert ring.identify(found["admin"]) == keys.Identity(keys.key_id(found["admin"]), "admin")

    first = path.read_text()
    stack.ensure_api_keys(settings)  # idempotent: `make up` twice
    assert path.read_text() == first and len(_stored(settings)) == 2


def test_a_revoked_bootstrap_key_stays_revoked_and_a_wiped_database_gets_them_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAYLINE_HOME", str(tmp_path))
    settings = Settings()
    stack.ensure_api_keys(settings)
    predict = dict(keys.read_keys(settings))["predict"]
    assert cli.main(["keys", "revoke", keys.key_id(predict)]) == 0
    stack.ensure_api_keys(settings)
    assert {r.role for r in _stored(settings) if r.revoked_at is None} == {"admin"}
    (tmp_path / "state.db").unlink()
    stack.ensure_api_keys(settings)
    assert {r.role for r in _stored(settings)} == {"admin", "predict"}


def test_a_plain_api_keys_file_of_an_older_rayline_becomes_the_credentials(
    tmp_path: Path,
) -> None:
    (tmp_path / "api_keys").write_text("admin:old-admin\npredict:old-predict\n")
    settings = Settings(home=tmp_path)
    stack.ensure_api_keys(settings)
    assert not (tmp_path / "api_keys").exists()
    assert stack.admin_key(settings) == "old-admin"
    ring = keys.KeyRing.from_env(settings, _stored(settings))
    assert ring.identify("old-predict") is not None and ring.identify("old") is None


def test_the_cli_adds_prints_once_lists_and_revokes_and_audits_each_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RAYLINE_HOME", str(tmp_path))
    monkeypatch.setenv("RAYLINE_API_KEYS", "admin:from-env")
    settings = Settings()
    assert cli.main(["keys", "add", "--role", "predict", "--name", "ci", "--rate", "5"]) == 0
    out, err = capsys.readouterr()
    key = out.strip()
    assert key.startswith(keys.KEY_PREFIX) and "only time it is shown" in err
    [record] = _stored(settings)
    assert (record.id, record.role, record.name, record.rate) == (
        keys.key_id(key),
        "predict",
        "ci",
        5,
    )

    assert cli.main(["keys", "list"]) == 0
    listed = capsys.readouterr().out
    assert key not in listed and record.id in listed and "RAYLINE_API_KEYS" in listed
    assert keys.key_id("from-env") in listed

    assert cli.main(["keys", "revoke", record.id]) == 0
    assert "revoked" in capsys.readouterr().out
    assert keys.KeyRing.from_env(settings, _active(settings)).identify(key) is None
    assert cli.main(["keys", "revoke", "nope"]) == 2
    assert "no key has id 'nope'" in capsys.readouterr().err
    assert cli.main(["keys", "revoke", keys.key_id("from-env")]) == 2
    assert "remove it there" in capsys.readouterr().err
    assert cli.main(["keys", "add", "--role", "predict", "--burst", "0"]) == 2
    assert "burst must be" in capsys.readouterr().err

    store = open_store(settings)
    entries = AuditLog(store.engine).read()
    store.close()
    assert [(e.action, e.target, e.outcome) for e in entries] == [
        ("keys_revoke", record.id, "ok"),
        ("keys_add", record.id, "ok"),
    ]
    assert all(e.key_id and e.key_id.startswith("cli") for e in entries)


def _stored(settings: Settings) -> list[KeyRecord]:
    store = open_store(settings)
    try:
        return KeyStore(store.engine).all()
    finally:
        store.close()


def _active(settings: Settings) -> list[KeyRecord]:
    return [r for r in _stored(settings) if r.revoked_at is None]


def test_environment_wins_over_the_file(tmp_path: Path) -> None:
    (tmp_path / "api_keys").write_text("admin:from-file\npredict:p-file\n")
    settings = Settings(home=tmp_path, api_keys="admin:from-env")
    assert keys.read_keys(settings) == [("admin", "from-env")]
    assert stack.admin_key(settings) == "from-env"
    only_predict = Settings(home=tmp_path, api_keys="predict:p-env")
    assert stack.admin_key(only_predict) is None  # not the file's admin key
