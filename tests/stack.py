"""The real local stack for integration and browser tests, one per session: a Ray head and an
MLflow server started by the same code as `make up`, on ports that do not collide with a running
`make demo`, and the Serve app deployed with `serve deploy`; all stopped at the end."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.train_config import write_config
from rayline import stack as stack_module
from rayline.keys import read_keys
from rayline.settings import PROJECT_ROOT, Settings

BIN = Path(sys.executable).parent
PORTS = {
    "RAYLINE_MLFLOW_PORT": 5051,
    "RAYLINE_RAY_GCS_PORT": 6391,
    "RAYLINE_RAY_DASHBOARD_PORT": 8266,
    "RAYLINE_SERVE_PORT": 8020,
    "RAYLINE_RAY_AGENT_PORT": 52376,
    "RAYLINE_RAY_CLIENT_PORT": 10000,
}


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@dataclass
class Stack:
    settings: Settings
    env: dict[str, str]
    admin_key: str
    predict_key: str
    configs: Path

    @property
    def url(self) -> str:
        return self.settings.serve_url

    def run(
        self,
        *args: str,
        timeout: float = 600,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run a CLI (ray, serve, python) as a user would, with the stack's environment."""
        result = subprocess.run(
            list(args),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=PROJECT_ROOT,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        return result

    def train(
        self,
        config: Path,
        *extra: str,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        return self.run(
            str(BIN / "ray"),
            "job",
            "submit",
            "--",
            "python",
            "-m",
            "jobs.train",
            str(config),
            *extra,
            check=check,
        )

    def http(
        self,
        method: str,
        path: str,
        body: Any = None,
        key: str | None = "admin",
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        timeout: float = 60,
    ) -> tuple[int, Any, dict[str, str]]:
        """One HTTP call to the ingress; returns (status, parsed body, headers)."""
        all_headers = dict(headers or {})
        if key == "admin":
            all_headers["Authorization"] = f"Bearer {self.admin_key}"
        elif key == "predict":
            all_headers["Authorization"] = f"Bearer {self.predict_key}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers=all_headers
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                payload, status, got = response.read(), response.status, response.headers
        except urllib.error.HTTPError as exc:
            payload, status, got = exc.read(), exc.code, exc.headers
        try:
            parsed: Any = json.loads(payload)
        except ValueError:
            parsed = payload.decode(errors="replace")
        return status, parsed, got


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    deadline = time.monotonic() + 30  # the tail of an earlier run may still be exiting
    while (
        busy := [f"{k}={v}" for k, v in PORTS.items() if not _port_free(v)]
    ) and time.monotonic() < deadline:
        time.sleep(1)
    if busy:
        pytest.fail(
            f"ports needed by the test stack are in use: {', '.join(busy)}; "
            "stop what holds them (an earlier test run?) and retry"
        )
    home = tmp_path_factory.mktemp("home")
    env_vars = {k: str(v) for k, v in PORTS.items()}
    env_vars.update(RAYLINE_HOME=str(home), RAYLINE_EXPERIMENT="rayline-tests")
    saved = {
        k: os.environ.get(k)
        for k in [
            *env_vars,
            "MLFLOW_TRACKING_URI",
            "RAY_ADDRESS",
            "RAY_DASHBOARD_ADDRESS",
            "RAY_AUTH_MODE",
        ]
    }
    os.environ.update(env_vars)
    settings = Settings()
    os.environ.update(
        MLFLOW_TRACKING_URI=settings.tracking_uri,
        RAY_ADDRESS=settings.ray_dashboard_url,
        RAY_DASHBOARD_ADDRESS=settings.ray_dashboard_url,  # what the `serve` CLI reads
        RAY_AUTH_MODE="token",
    )
    try:
        stack_module.up(settings)
        keys = dict(read_keys(settings))
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        configs = tmp_path_factory.mktemp("configs")
        yield Stack(settings, env, keys["admin"], keys["predict"], configs)
    finally:
        stack_module.down(settings)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def iris_model(stack: Stack) -> dict[str, Any]:
    """An `iris_it` model trained once by a real Ray Job; returns the job's result event."""
    path = write_config(stack.configs, "iris_it")
    result = stack.train(path)
    events = [
        json.loads(line.split(" ", 1)[1])
        for line in result.stdout.splitlines()
        if line.startswith("@rayline ")
    ]
    return next(e for e in events if e["event"] == "result")


@pytest.fixture(scope="session")
def serving(stack: Stack, iris_model: dict[str, Any]) -> Stack:
    """The Serve app deployed with `serve deploy` from serve_config.yaml (test port/models)."""
    config = yaml.safe_load((PROJECT_ROOT / "serve_config.yaml").read_text())
    config["http_options"]["port"] = stack.settings.serve_port
    app = config["applications"][0]
    app["args"]["models"] = [{"name": "iris_it", "alias": "champion"}]
    app["args"]["scheduler_tick_s"] = 1
    for deployment in app["deployments"]:
        if deployment["name"] == "Predictor":
            deployment["user_config"]["poll_interval_s"] = 1
    path = stack.configs / "serve_config.yaml"
    path.write_text(yaml.safe_dump(config))
    stack.run(str(BIN / "serve"), "deploy", str(path))
    stack_module.wait_ready(stack.settings, seconds=240)
    return stack
