"""The chaos suite's own local stack: settings, CLIs, HTTP, and the processes it may touch.

`make chaos` starts a Ray head and an MLflow server with `rayline.stack.up` under its own
RAYLINE_HOME and ports, so it never collides with `make demo` or a test session, and every
process it signals is proven to belong to that stack first (its Ray temp dir or its pid file).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rayline import stack as stack_module
from rayline.keys import read_keys
from rayline.ray_api import dashboard_get
from rayline.settings import PROJECT_ROOT, Settings

BIN = Path(sys.executable).parent
HOME = Path("/tmp/rayline-chaos")  # noqa: S108 - the suite's own scratch home, wiped per run
# Not the 5081/6431/8296/8031/52406 first planned: tests/integration/test_scale_out.py holds
# those, and a Ray client port must lie outside Ray's worker ports (10002-19999).
PORTS = {
    "RAYLINE_MLFLOW_PORT": 5091,
    "RAYLINE_RAY_GCS_PORT": 6441,
    "RAYLINE_RAY_DASHBOARD_PORT": 8306,
    "RAYLINE_SERVE_PORT": 8080,
    "RAYLINE_RAY_AGENT_PORT": 52416,
    "RAYLINE_RAY_CLIENT_PORT": 20061,
}
PREDICTOR_TITLE = "ray::ServeReplica:rayline:Predictor"


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def configure_environment(home: Path = HOME) -> Settings:
    """Point this process (and so every Ray process it starts) at the chaos stack."""
    os.environ.update({k: str(v) for k, v in PORTS.items()})
    os.environ.update(RAYLINE_HOME=str(home), RAYLINE_EXPERIMENT="rayline-chaos")
    os.environ.pop("RAYLINE_API_KEYS", None)  # the stack's own key file, not the caller's
    settings = Settings()
    os.environ.update(
        MLFLOW_TRACKING_URI=settings.tracking_uri,
        RAY_ADDRESS=settings.ray_dashboard_url,  # what `ray job` reads
        RAY_DASHBOARD_ADDRESS=settings.ray_dashboard_url,  # what `serve` reads
        RAY_AUTH_MODE="token",
    )
    return settings


@dataclass
class ChaosStack:
    """The running stack and how to talk to it as a user would."""

    settings: Settings
    admin_key: str
    predict_key: str

    @property
    def url(self) -> str:
        return self.settings.serve_url

    @property
    def home(self) -> Path:
        return self.settings.home

    @property
    def configs(self) -> Path:
        path = self.home / "configs"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def temp_dir(self) -> str:
        started = json.loads((self.home / "started.json").read_text())
        return str(started.get("ray_temp_dir") or stack_module.ray_temp_dir(self.settings))

    def env(self) -> dict[str, str]:
        return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run a CLI (ray, serve) with the stack's environment; raise with its output on failure."""
        result = subprocess.run(
            list(args),
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=PROJECT_ROOT,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args[:4])} … failed ({result.returncode}):\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result

    def train(self, config: Path, *extra: str, timeout: float = 600) -> str:
        """`ray job submit -- python -m jobs.train <config>`; returns the job's output."""
        result = self.run(
            str(BIN / "ray"),
            "job",
            "submit",
            "--",
            "python",
            "-m",
            "jobs.train",
            str(config),
            *extra,
            timeout=timeout,
        )
        return result.stdout

    def deploy(self, model: str) -> Path:
        """`serve deploy` a copy of serve_config.yaml: this stack's port and model, 1 s polls."""
        config = yaml.safe_load((PROJECT_ROOT / "serve_config.yaml").read_text())
        config["http_options"]["port"] = self.settings.serve_port
        app = config["applications"][0]
        app["args"]["models"] = [{"name": model, "alias": "champion"}]
        for deployment in app["deployments"]:
            if deployment["name"] == "Predictor":
                deployment["user_config"]["poll_interval_s"] = 1
        path = self.configs / "serve_config.yaml"
        path.write_text(yaml.safe_dump(config))
        self.run(str(BIN / "serve"), "deploy", str(path), timeout=180)
        stack_module.wait_ready(self.settings, seconds=300)
        return path

    def http(
        self,
        method: str,
        path: str,
        body: Any = None,
        key: str | None = "admin",
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        timeout: float = 60,
        base: str | None = None,
    ) -> tuple[int, Any, dict[str, str], float]:
        """One blocking HTTP call; returns (status, parsed body, headers, seconds taken)."""
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
            (base or self.url) + path, data=data, method=method, headers=all_headers
        )
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                payload, status, got = response.read(), response.status, dict(response.headers)
        except urllib.error.HTTPError as exc:
            payload, status, got = exc.read(), exc.code, dict(exc.headers)
        elapsed = time.monotonic() - started
        try:
            parsed: Any = json.loads(payload)
        except ValueError:
            parsed = payload.decode(errors="replace")
        return status, parsed, got, elapsed

    # --- Ray state: the replicas of this stack -------------------------------------------
    def dashboard(self, path: str, timeout: float = 10) -> Any:
        return dashboard_get(self.settings, path, timeout=timeout)

    def replicas(self, deployment: str = "Predictor") -> list[dict[str, Any]]:
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

    def alive_replicas(self, deployment: str = "Predictor") -> dict[str, int]:
        """actor id → pid of the ALIVE replicas of one deployment."""
        return {
            a["actor_id"]: int(a["pid"])
            for a in self.replicas(deployment)
            if a.get("state") == "ALIVE" and a.get("pid")
        }

    def cluster_pids(self) -> list[int]:
        """Every process of this stack: the Ray head's tree and the MLflow server's group."""
        return sorted(stack_module.stack_pids(self.settings))


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


def start(home: Path = HOME) -> ChaosStack:
    """A fresh chaos stack: stop what an earlier run left, wipe its home, `up`."""
    settings = configure_environment(home)
    _stop_leftovers(settings)
    busy = [f"{k}={v}" for k, v in PORTS.items() if not port_free(v)]
    # Ray's client server outlives its head by up to a minute (it exits once GCS is gone).
    deadline = time.monotonic() + 120
    while busy and time.monotonic() < deadline:
        time.sleep(1)
        busy = [f"{k}={v}" for k, v in PORTS.items() if not port_free(v)]
    if busy:
        raise SystemExit(f"ports the chaos stack needs are in use: {', '.join(busy)}")
    for attempt in (1, 2):
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        try:
            stack_module.up(settings)
            break
        except SystemExit as exc:  # on a crowded machine Ray's head can miss its start timeout
            print(f"stack start failed ({exc}); attempt {attempt} of 2", flush=True)
            _stop_leftovers(settings)
            if attempt == 2:
                raise
            time.sleep(10)
    keys = dict(read_keys(settings))
    return ChaosStack(settings, keys["admin"], keys["predict"])


def _stop_leftovers(settings: Settings) -> None:
    """What an earlier run in this home left: recorded servers, and the processes of a Ray head
    whose `ray start` failed before `up` could record it (they all name our temp dir)."""
    if (settings.home / "started.json").exists():
        with contextlib.suppress(Exception):
            stack_module.down(settings)
    stack_module.stop_ray(str(stack_module.ray_temp_dir(settings)), settings.ray_gcs_address)


def attach(home: Path = HOME) -> ChaosStack:
    """The chaos stack an earlier `--keep` run left up (for developing one phase)."""
    settings = configure_environment(home)
    keys = dict(read_keys(settings))
    return ChaosStack(settings, keys["admin"], keys["predict"])


def stop(stack: ChaosStack) -> None:
    stack_module.down(stack.settings)
