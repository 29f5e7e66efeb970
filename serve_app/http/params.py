"""Path and query parameters that several routes share: the alias grammar and model ids."""

from __future__ import annotations

import re

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from rayline.registry import CHAMPION
from serve_app.http.errors import HttpError

ALIAS_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
"""An alias: 1 to 64 letters, digits, - and _, starting with a letter or digit."""
_ALIAS = re.compile(ALIAS_PATTERN)
PATH_PATTERNS = {"version": "[0-9]{1,9}", "alias": ALIAS_PATTERN}
"""Path parameters with a grammar of their own; the others follow `NAME_PATTERN`."""
NAME_PATTERN = "[A-Za-z0-9_.-]{1,128}"


def path_pattern(parameter: str) -> str:
    """The grammar of a path parameter (documented in /openapi.json, checked per request)."""
    return PATH_PATTERNS.get(parameter, NAME_PATTERN)


def check_path(request: Request) -> None:
    """422 naming the first path parameter outside its grammar (`path_pattern`)."""
    for name, value in request.path_params.items():
        if name == "alias":
            check_alias(value)  # says the grammar in words
        elif not re.fullmatch(path_pattern(name), value):
            raise HttpError(422, f"path parameter {name}: must match ^{path_pattern(name)}$")


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


def read_query(request: Request, query: type[BaseModel] | None) -> BaseModel | None:
    """The query string validated into the route's `Query` model; 422 naming the parameter
    for a value out of its bounds or a parameter the route does not read."""
    given = dict(request.query_params)
    names = [name for name, _ in request.query_params.multi_items()]
    if len(names) != len(given):  # ?model=a&model=b: which one was meant?
        repeated = next(name for name in names if names.count(name) > 1)
        raise HttpError(422, f"query parameter {repeated[:32]!r}: given more than once")
    if query is None:
        if given:
            raise HttpError(
                422, f"query parameter {next(iter(given))[:32]!r}: this route reads none"
            )
        return None
    try:
        return query.model_validate(given)
    except ValidationError as exc:
        parts = []
        for item in exc.errors(include_input=False, include_url=False)[:5]:
            name = ".".join(str(p) for p in item["loc"])[:32]
            if item["type"] == "extra_forbidden":
                message = "not a parameter of this route"
            elif item["type"] == "value_error":  # a validator's own words
                message = str(item["ctx"]["error"])
            else:
                message = item["msg"]
            parts.append(f"{name}: {message}")
        raise HttpError(422, "; ".join(parts)) from None


def requested_model(request: Request, name: str) -> str:
    """The model a request asks for (its `ModelRef` query): `name/version` for `?version=`,
    else `name@alias` (`?alias=`, champion by default)."""
    query = request.state.query
    if query.version:
        return f"{name}/{query.version}"
    return f"{name}@{query.alias or CHAMPION}"
