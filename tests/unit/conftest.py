"""Unit tests see the built-in defaults, not the variables the integration stack exported."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _default_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("RAYLINE_"):
            monkeypatch.delenv(key)
