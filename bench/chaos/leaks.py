"""What an error response must not carry: a traceback, or a value of the request that caused it.

Used by the chaos suite's fuzzing and by tests/integration/test_security.py's hostile inputs.
"""

from __future__ import annotations

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


def echo_problem(response_text: str, request_body: Any) -> str | None:
    """Why an error response leaks: a traceback, or a value of the request; None if clean."""
    if TRACEBACK.search(response_text):
        return "traceback"
    for value in echoed_values(request_body):
        if value in response_text:
            return "echoes the request"
    return None
