"""The benchmarks' handle on a running Rayline stack: timed job submissions and deploys.

Jobs go through a real `ray job submit`, the Serve app through a real `serve deploy`, with the
client environment `.rayline/env` would give a shell (token auth, dashboard address): the
product's harness (`rayline.stack.harness`) does both; this module times them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rayline.settings import PROJECT_ROOT, Settings
from rayline.stack.harness import BIN, SERVE_CONFIG, LocalStack, serve_config
from rayline.training import read_events as parse_event_lines

__all__ = [
    "BIN",
    "SERVE_CONFIG",
    "JobRun",
    "deploy",
    "parse_event_lines",
    "serve_config",
    "submit_job",
    "train",
]


@dataclass
class JobRun:
    """A finished `ray job submit`: its output (the job's log), exit code and wall time."""

    args: list[str]
    returncode: int
    output: str
    wall_s: float
    events: list[dict[str, Any]] = field(default_factory=list)

    def check(self) -> JobRun:
        if self.returncode != 0:
            tail = "\n".join(self.output.splitlines()[-30:])
            raise RuntimeError(f"job {' '.join(self.args)} failed ({self.returncode}):\n{tail}")
        return self


def submit_job(settings: Settings, args: list[str], timeout_s: float = 1800) -> JobRun:
    """`ray job submit --working-dir <repo> -- python -m <args>`, waiting for the end."""
    started = time.perf_counter()
    result = LocalStack(settings).run(
        str(BIN / "ray"), "job", "submit", "--working-dir", str(PROJECT_ROOT),
        "--", "python", "-m", *args,
        timeout=timeout_s, check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    return JobRun(
        args, result.returncode, output, time.perf_counter() - started, parse_event_lines(output)
    )


def train(settings: Settings, config: str | Path, *extra: str) -> JobRun:
    """Train (or find already registered) one config with a real job submission."""
    return submit_job(settings, ["jobs.train", str(config), *extra]).check()


def deploy(settings: Settings, config: dict[str, Any], timeout_s: float = 300) -> float:
    """`serve deploy` a config and wait until the new config runs and /ready answers 200 for
    exactly its models; seconds taken."""
    started = time.perf_counter()
    LocalStack(settings).deploy_config(config, seconds=timeout_s)
    return time.perf_counter() - started
