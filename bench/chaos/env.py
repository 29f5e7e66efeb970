"""The chaos suite's own local stack: the harness's stack, what Ray says of its replicas, and the
processes it may touch.

`make chaos` starts a Ray head and an MLflow server with the product's harness
(`rayline.stack.harness`) on the `chaos` profile's ports under its own RAYLINE_HOME, so it never
collides with `make demo` or a test session, and every process it signals is proven to belong to
that stack first (its Ray temp dir or its pid file).
"""

from __future__ import annotations

import contextlib
import shutil
import time
import urllib.parse
from pathlib import Path
from typing import Any

from rayline.ray_api import dashboard_get
from rayline.stack.harness import LocalStack
from rayline.stack.profiles import CHAOS

HOME = Path("/tmp/rayline-chaos")  # noqa: S108 - the suite's own scratch home, wiped per run
INGRESS_TITLE = "ray::ServeReplica:rayline:Ingress"
PORTS_FREE_S = 120
"""How long a start waits for the ports: Ray's client server exits only once its head's GCS is
gone, up to a minute after the head."""
START_ATTEMPTS = 2
"""A Ray head on a busy machine can miss its start timeout; the start is tried again once."""


class ChaosStack(LocalStack):
    """The running chaos stack, and what Ray's state API says of its Serve replicas."""

    def dashboard(self, path: str, timeout: float = 10) -> Any:
        return dashboard_get(self.settings, path, timeout=timeout)

    def replicas(self, deployment: str = "Ingress") -> list[dict[str, Any]]:
        """Serve replica actors of one deployment (any state), from Ray's state API."""
        query = urllib.parse.urlencode(
            {
                "limit": 1000,
                "detail": "true",
                "filter_keys": "class_name",
                "filter_predicates": "=",
                "filter_values": f"ServeReplica:rayline:{deployment}",
            }
        )
        data = self.dashboard(f"/api/v0/actors?{query}")
        result: list[dict[str, Any]] = data["data"]["result"]["result"]
        return result

    def alive_replicas(self, deployment: str = "Ingress") -> dict[str, int]:
        """actor id → pid of the ALIVE replicas of one deployment."""
        return {
            a["actor_id"]: int(a["pid"])
            for a in self.replicas(deployment)
            if a.get("state") == "ALIVE" and a.get("pid")
        }


def rss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def chaos_stack(home: Path = HOME) -> ChaosStack:
    """The chaos stack's handle (not started): its own key file, never the caller's keys."""
    return ChaosStack.from_profile(
        CHAOS,
        home,
        {"RAYLINE_EXPERIMENT": "rayline-chaos"},
        unset=("RAYLINE_API_KEYS",),
        predictor_config={"poll_interval_s": 1},
    )


def start(home: Path = HOME) -> ChaosStack:
    """A fresh chaos stack: stop what an earlier run left, wipe its home, `up`."""
    stack = chaos_stack(home)
    stack.enter_environment()
    with contextlib.suppress(Exception):  # an earlier run's state may be anything
        stack.stop()
    for attempt in range(1, START_ATTEMPTS):
        try:
            return _fresh_up(stack)
        except SystemExit as exc:  # how rayline.stack reports a start that failed
            print(f"stack start failed ({exc}); attempt {attempt} of {START_ATTEMPTS}", flush=True)
            stack.stop()
            time.sleep(10)
    return _fresh_up(stack)


def _fresh_up(stack: ChaosStack) -> ChaosStack:
    shutil.rmtree(stack.home, ignore_errors=True)
    stack.home.mkdir(parents=True)
    return stack.up(wait_ports_s=PORTS_FREE_S)


def attach(home: Path = HOME) -> ChaosStack:
    """The chaos stack an earlier `--keep` run left up (for developing one phase)."""
    stack = chaos_stack(home)
    stack.enter_environment()
    return stack


def stop(stack: ChaosStack) -> None:
    stack.down()
