"""Waiting for a condition in tests: poll it, never sleep a guess."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class NotYet(Exception):
    """Raised by a probe to say "not yet" along with what it saw, for the failure message."""


def wait_until(
    probe: Callable[[], T | None],
    timeout: float,
    what: str,
    interval: float = 0.5,
    ignoring: tuple[type[BaseException], ...] = (),
) -> T:
    """Call `probe` until it returns something truthy and return that; after `timeout` seconds
    fail saying `what` was awaited and what the probe last returned (or raised, for the
    exceptions in `ignoring` or `NotYet`, which count as "not yet")."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = probe()
        except (NotYet, *ignoring) as exc:
            last = exc
        else:
            if result:
                return result
            last = result
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}; last seen: {last!r}")
        time.sleep(interval)
