"""What an error response must not carry: a traceback, or a value of the request that caused it.

An error echoes the request when its body holds, as sent or escaped as a JSON string, a string
value of the request body at least 12 characters long that is not a name: dict keys (columns,
parameters) and `name`/`columns` fields (tensors, outputs, columns) are how an error points at
the fault, so it may repeat them. Any other value (a datatype, a cell, an id) is data the client
sent, and the error names its field instead. Path and query values are not looked at: they are
short and held to their documented grammars and bounds, and an error that names the model a
request asked for names it, it does not echo data.

Used by the chaos suite's fuzzing and by tests/integration/test_security.py's hostile inputs.
"""

from __future__ import annotations

import json
import re
from typing import Any

TRACEBACK = re.compile(r"Traceback \(most recent call last\)|File \"/[^\"]+\", line \d+")
IDENTIFIER_KEYS = frozenset({"name", "columns"})
"""Body fields that name columns or tensors: an error that names the field may repeat them."""


def echoed_values(body: Any, min_length: int = 12) -> list[str]:
    """String values in a request body long enough that finding one in an error is an echo;
    dict keys and identifier fields are names an error may legitimately repeat."""
    found: list[str] = []

    def walk(value: Any, key: str | None) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, str(k))
        elif isinstance(value, list):
            for item in value:
                walk(item, key)
        elif isinstance(value, str) and len(value) >= min_length and key not in IDENTIFIER_KEYS:
            found.append(value)

    if isinstance(body, (str, bytes)):
        text = body.decode(errors="replace") if isinstance(body, bytes) else body
        if len(text) >= min_length:
            found.append(text[:200])
    else:
        walk(body, None)
    return found


def _written(value: str) -> set[str]:
    """How `value` reads inside an error body: as is, or escaped in a JSON string (ASCII-only
    or not, as JSON encoders differ)."""
    return {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}


def echo_problem(response_text: str, request_body: Any) -> str | None:
    """Why an error response leaks: a traceback, or a value of the request; None if clean."""
    if TRACEBACK.search(response_text):
        return "traceback"
    for value in echoed_values(request_body):
        if any(form in response_text for form in _written(value)):
            return "echoes the request"
    return None
