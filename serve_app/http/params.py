"""Path and query parameters that several routes share: the alias grammar and model ids."""

from __future__ import annotations

import re

from starlette.requests import Request

from rayline.registry import CHAMPION
from serve_app.http.errors import HttpError

ALIAS_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
"""An alias: 1 to 64 letters, digits, - and _, starting with a letter or digit."""
_ALIAS = re.compile(ALIAS_PATTERN)


def check_alias(alias: str) -> str:
    """`alias` if it follows the alias grammar; 422 saying what it allows otherwise.

    One grammar for serving (`?alias=`) and promotion (`/aliases/{alias}`): any alias one can
    set can be served."""
    if not _ALIAS.fullmatch(alias):
        raise HttpError(
            422, "alias: 1 to 64 letters, digits, - or _, starting with a letter or digit"
        )
    return alias


def is_number(text: str) -> bool:
    """A whole number written with ASCII digits only (`str.isdigit` also takes "²", which
    `int()` refuses)."""
    return text.isascii() and text.isdigit()


def requested_model(request: Request, name: str) -> str:
    """The model a request asks for: `name/version` for `?version=`, else `name@alias`
    (`?alias=`, champion by default)."""
    version = request.query_params.get("version")
    if version:
        if not is_number(version):
            raise HttpError(422, "version: must be a number")
        return f"{name}/{version}"
    return f"{name}@{check_alias(request.query_params.get('alias', CHAMPION))}"
