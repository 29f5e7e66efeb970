"""The benchmarks' handle on a running Rayline stack: the CLIs a user runs, from Python.

Jobs go through a real `ray job submit`, the Serve app through a real `serve deploy`, with the
client environment `.rayline/env` would give a shell (token auth, dashboard address).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rayline.settings import PROJECT_ROOT, Settings
from rayline.training import EVENT_PREFIX

BIN = Path(sys.executable).parent
SERVE_CONFIG = PROJECT_ROOT / "serve_config.yaml"


def client_env(settings: Settings) -> dict[str, str]:
    """What `source .rayline/env` exports, for the stack `settings` describe."""
    env = dict(os.environ)
    env.update(
        {
            "RAY_ADDRESS": settings.ray_dashboard_url,  # what `ray job` reads
            "RAY_DASHBOARD_ADDRESS": settings.ray_dashboard_url,  # what `serve` reads
            "RAY_AUTH_MODE": "token",
            "MLFLOW_TRACKING_URI": settings.tracking_uri,
            "RAYLINE_HOME": str(settings.home),
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    return env


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


def parse_event_lines(text: str) -> list[dict[str, Any]]:
    """Every `@rayline {...}` event line of a job log, in order, with its `event` kind."""
    events = []
    for line in text.splitlines():
        if line.startswith(EVENT_PREFIX):
            try:
                events.append(json.loads(line[len(EVENT_PREFIX) :]))
            except json.JSONDecodeError:
                continue
    return events


def submit_job(settings: Settings, args: list[str], timeout_s: float = 1800) -> JobRun:
    """`ray job submit --working-dir <repo> -- python -m <args>`, waiting for the end."""
    cmd = [str(BIN / "ray"), "job", "submit", "--working-dir", str(PROJECT_ROOT), "--", "python"]
    started = time.perf_counter()
    result = subprocess.run(
        [*cmd, "-m", *args],
        env=client_env(settings),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    output = result.stdout + result.stderr
    return JobRun(
        args, result.returncode, output, time.perf_counter() - started, parse_event_lines(output)
    )


def train(settings: Settings, config: str | Path, *extra: str) -> JobRun:
    """Train (or find already registered) one config with a real job submission."""
    return submit_job(settings, ["jobs.train", str(config), *extra]).check()


def serve_config(models: list[dict[str, str]], port: int | None = None) -> dict[str, Any]:
    """The repository's serve_config.yaml serving exactly `models` (a benchmark needs only the
    models it trained; the defaults may not be registered on its stack)."""
    data: dict[str, Any] = yaml.safe_load(SERVE_CONFIG.read_text())
    data["applications"][0]["args"]["models"] = list(models)
    if port is not None:
        data["http_options"]["port"] = port
    return data


def deploy(settings: Settings, config: dict[str, Any], timeout_s: float = 300) -> float:
    """`serve deploy` a config (written to a temp file) and wait until the new config runs and
    /ready answers 200 for exactly its models; seconds taken."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(config, handle, sort_keys=False)
        path = handle.name
    models = [
        (m["name"], m.get("alias", "champion")) for m in config["applications"][0]["args"]["models"]
    ]
    try:
        started = time.perf_counter()
        since = time.time()
        subprocess.run(
            [str(BIN / "serve"), "deploy", "--address", settings.ray_dashboard_url, path],
            env=client_env(settings),
            check=True,
            capture_output=True,
            timeout=120,
        )
        _wait_deployed(settings, since, timeout_s)
        wait_ready(settings, timeout_s, models)
        return time.perf_counter() - started
    finally:
        Path(path).unlink(missing_ok=True)


def _wait_deployed(settings: Settings, since: float, timeout_s: float) -> None:
    """Until `serve status` shows the app RUNNING from a deployment made after `since` (the
    old config can still look ready just after `serve deploy` returns)."""
    deadline = time.monotonic() + timeout_s
    status: Any = None
    while time.monotonic() < deadline:
        result = subprocess.run(
            [str(BIN / "serve"), "status", "--address", settings.ray_dashboard_url],
            env=client_env(settings),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode == 0:
            status = yaml.safe_load(result.stdout) or {}
            app = (status.get("applications") or {}).get("rayline") or {}
            if app.get("status") == "RUNNING" and app.get("last_deployed_time_s", 0) >= since - 1:
                return
        time.sleep(0.25)
    raise RuntimeError(f"the Serve app did not reach RUNNING in {timeout_s:.0f}s: {status}")


def wait_ready(
    settings: Settings, timeout_s: float = 300, models: list[tuple[str, str]] | None = None
) -> None:
    """Until the ingress answers /ready with 200 (every served model loaded) and, if given,
    serves exactly `models` as (name, alias)."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{settings.serve_url}/ready", timeout=5) as response:
                served = [(m["name"], m["alias"]) for m in json.loads(response.read())["models"]]
                if response.status == 200 and (models is None or served == models):
                    return
                last = f"serving {served}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.25)
    raise RuntimeError(f"{settings.serve_url}/ready not ready after {timeout_s:.0f}s: {last}")
