"""Shared test setup: the session stack's fixtures, `write_config` for the tests' configs, and
how `make test` spreads the suite over two pytest-xdist workers.

A stack starts once per worker that asks for it, so every test of one stack runs on one worker:
the tests in tests/integration/production/ share a cluster of their own, the other integration
and browser tests the session stack (tests/stack.py). The two stack groups start first, one per
worker, each in a row; the unit tests, a module at a time, fill in wherever a worker is free.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest

# `write_config` lives in the bench (which `make chaos` runs and must not import the tests);
# re-exported so `from tests.conftest import write_config` keeps working.
from bench.train_config import write_config as write_config

# The session fixtures `stack`, `iris_model` and `serving` (real Ray, MLflow and Serve).
pytest_plugins = ["tests.stack"]

STACK_GROUPS = (
    ("production-stack", "production", ("tests/integration/production/",)),
    # Modules with a stack of their own come before the session's folder (first match wins)
    # but are scheduled after it: the session stack is the longest work unit.
    ("tls-stack", "tls_stack", ("tests/integration/test_tls.py",)),
    (
        "mlflow-home",
        "mlflow_home",
        ("tests/integration/test_backup.py", "tests/integration/test_disk_full.py"),
    ),
    ("session-stack", "stack", ("tests/integration/", "tests/e2e/")),
)
GROUP_ORDER = ("production-stack", "session-stack", "tls-stack", "mlflow-home")
"""The order the groups are handed to the workers in."""
assert sorted(GROUP_ORDER) == sorted(group for group, _, _ in STACK_GROUPS)
"""(group, the fixture that starts its stack, where its tests live), first match wins."""


def stack_group(nodeid: str) -> str | None:
    for group, _, places in STACK_GROUPS:
        if nodeid.startswith(places):
            return group
    return None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Stack groups first (the longest work), in the same order on every worker, each group's
    disruptive tests last; a test that uses a stack outside its group's folder would start a
    second copy of it, so it is refused."""
    for item in items:
        group = stack_group(item.nodeid)
        for name, fixture, _ in STACK_GROUPS:
            if fixture in getattr(item, "fixturenames", ()) and group != name:
                raise pytest.UsageError(
                    f"{item.nodeid} uses the `{fixture}` fixture but is not among the tests of "
                    f"{name}; move it there or add its place to STACK_GROUPS in tests/conftest.py"
                )
    # Within a group, the tests that break part of its stack on purpose run last, so that
    # what they leave behind (a restarted GCS or PostgreSQL, replicas Serve is still
    # replacing) never meets a test that expects a settled stack.
    items.sort(
        key=lambda item: (
            GROUP_ORDER.index(g) if (g := stack_group(item.nodeid)) else len(GROUP_ORDER),
            disruption(item),
        )
    )


def disruption(item: pytest.Item) -> int:
    """0 for most tests, 1 for a disruptive one, 2 for one marked disruptive(last=True)."""
    marker = item.get_closest_marker("disruptive")
    if marker is None:
        return 0
    return 2 if marker.kwargs.get("last") else 1


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling

    class StackGroups(LoadScopeScheduling):  # type: ignore[misc]
        """Work units: one per stack group, one per other test module, in collection order."""

        def _split_scope(self, nodeid: str) -> str:
            return stack_group(nodeid) or str(super()._split_scope(nodeid))

    config.option.loadscopereorder = False
    return StackGroups(config, log)


_REPORTS: list[pytest.TestReport] = []
_BUSY: dict[tuple[str, str], list[float]] = {}
"""(worker, stack group or "other") → [first start, last stop, seconds of setup+call+teardown]."""


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Every test's call phase, with its worker and wall-clock span (for the failure timeline);
    every phase's span, by worker and stack group (for the time each group takes)."""
    if report.when == "call" or (report.when == "setup" and report.failed):
        _REPORTS.append(report)
    key = (_worker(report), stack_group(report.nodeid) or "other")
    span = _BUSY.setdefault(key, [report.start, report.stop, 0.0])
    span[0], span[1] = min(span[0], report.start), max(span[1], report.stop)
    span[2] += report.duration


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Where the suite's time went, by worker and stack group. For each failed test: when it
    ran, on which worker, and every test whose span overlapped it on either worker, so that a
    failure caused by another test's fault (a stopped server, a killed replica) names that
    test."""
    if _BUSY:
        terminalreporter.section("time by worker and stack group (UTC)")
        for (where, group), (start, stop, busy) in sorted(_BUSY.items(), key=lambda i: i[1][0]):
            terminalreporter.line(
                f"[{where}] {group}: {_clock(start)}-{_clock(stop)}, {busy:.0f} s in its tests"
            )
    failed = [r for r in _REPORTS if r.failed]
    if not failed:
        return
    terminalreporter.section("failure timeline (UTC; overlapping tests on any worker)")
    for report in failed:
        terminalreporter.line(f"FAILED {_span(report)}")
        for other in _REPORTS:
            if other is not report and other.start < report.stop and report.start < other.stop:
                terminalreporter.line(f"  overlapped {_span(other)}")


def _clock(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%H:%M:%S")


def _worker(report: pytest.TestReport) -> str:
    gateway = getattr(getattr(report, "node", None), "gateway", None)
    return str(getattr(gateway, "id", "main"))


def _span(report: pytest.TestReport) -> str:
    span = f"{_clock(report.start)}-{_clock(report.stop)}"
    return f"{span} [{_worker(report)}] {report.nodeid} ({report.outcome})"
