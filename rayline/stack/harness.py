"""A Rayline stack of one's own next to others on one machine, used as a user would use it.

`LocalStack.from_profile(profile, home, variables)` is a stack on a profile's ports
(`rayline.stack.profiles`) with its own home folder and any further `RAYLINE_*` settings.
`up()` (or `with`) puts those variables in this process's environment, so the Ray processes
`rayline.stack.up` starts inherit them exactly as they would a user's shell or `.env`, and
starts MLflow and a Ray head; `down()` stops them and restores the environment. In between, the
stack runs the CLIs a user runs (`ray job submit`, `serve deploy`) with the client environment
`<home>/env` gives a shell, and calls its HTTP API with its own keys.

`LocalStack(settings)` is the same handle on a stack that runs already (`make up`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any, Self

import yaml

from rayline import procfs
from rayline.keys import read_keys
from rayline.ray_api import dashboard_get, ray_token
from rayline.settings import GRPC_PORT_OFFSET, PROJECT_ROOT, Settings
from rayline.stack.profiles import PortProfile, PortsInUse
from rayline.stack.ray_env import ray_env, ray_temp_dir
from rayline.stack.services import down as stop_stack
from rayline.stack.services import up as start_stack
from rayline.stack.supervisor import BIN, free_ports, stack_pids, stop_ray
from rayline.tls import serve_context

__all__ = [
    "BIN",
    "SERVE_CONFIG",
    "LocalStack",
    "StackError",
    "client_env",
    "environ",
    "serve_config",
]

SERVE_CONFIG = PROJECT_ROOT / "serve_config.yaml"
"""The checkout's Serve config; a stack deploys a copy of it with its own port and models."""


class StackError(RuntimeError):
    """A CLI run against the stack failed, or the stack did not get ready; says which and why."""


@contextmanager
def environ(variables: Mapping[str, str], unset: Iterable[str] = ()) -> Iterator[None]:
    """os.environ with `variables` set and `unset` removed; as it was afterwards."""
    removed = list(unset)
    saved = {name: os.environ.get(name) for name in [*removed, *variables]}
    for name in removed:
        os.environ.pop(name, None)
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def client_env(settings: Settings) -> dict[str, str]:
    """What `source <home>/env` exports for the stack `settings` describe, PATH aside."""
    return {
        "RAY_ADDRESS": settings.ray_dashboard_url,  # what `ray job` reads
        "RAY_DASHBOARD_ADDRESS": settings.ray_dashboard_url,  # what `serve` reads
        "RAY_AUTH_MODE": "token",
        "MLFLOW_TRACKING_URI": settings.tracking_uri,
        "RAYLINE_HOME": str(settings.home),
    }


def replica_states(app: Mapping[str, Any], deployment: str) -> dict[str, int]:
    """State → count of one deployment's replicas in `LocalStack.serve_app()` (RUNNING,
    STARTING, ...), as `serve status` prints them."""
    replicas = ((app.get("deployments") or {}).get(deployment) or {}).get("replicas") or []
    return dict(Counter(replica["state"] for replica in replicas))


def serve_config(
    models: Sequence[Mapping[str, str]],
    port: int | None = None,
    *,
    args: Mapping[str, Any] | None = None,
    predictor_config: Mapping[str, Any] | None = None,
    ingress_options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """serve_config.yaml serving exactly `models` (`{"name", "alias"}`), on `port` if given,
    with `args` over the app's args, `predictor_config` over the predictor section of the
    Ingress `user_config` and `ingress_options` over its `ray_actor_options`; everything else
    as shipped."""
    config: dict[str, Any] = yaml.safe_load(SERVE_CONFIG.read_text())
    if port is not None:
        config["http_options"]["port"] = port
        config["grpc_options"]["port"] = port + GRPC_PORT_OFFSET
    app = config["applications"][0]
    app["args"]["models"] = list(models)
    app["args"].update(args or {})
    for deployment in app["deployments"]:
        if deployment["name"] == "Ingress":
            if predictor_config:
                user_config = deployment.setdefault("user_config", {})
                user_config.setdefault("predictor", {}).update(predictor_config)
            if ingress_options:
                deployment.setdefault("ray_actor_options", {}).update(ingress_options)
    return config


@dataclass
class LocalStack:
    """A Rayline stack on this machine and what a user does with it."""

    settings: Settings
    name: str = "local"
    """The profile's name, for messages."""
    variables: dict[str, str] = field(default_factory=dict)
    """Variables the stack's processes start with (its `RAYLINE_*` settings and any other);
    `up` puts them in os.environ until `down`."""
    unset: tuple[str, ...] = ()
    """Variables of the caller's environment the stack's processes must not see."""
    app_args: dict[str, Any] = field(default_factory=dict)
    """Set over serve_config.yaml's app args by every `deploy` (e.g. a short scheduler tick)."""
    predictor_config: dict[str, Any] = field(default_factory=dict)
    """Set over the predictor's `user_config` by every `deploy` (e.g. a short poll interval)."""
    remove_ray_temp: bool = False
    """`down` also removes Ray's session folder when it lies outside home (in /tmp)."""
    extra_nodes: list[Path] = field(default_factory=list)
    """Temp folders of the nodes `add_node` joined; `down` stops them."""
    _environment: ExitStack | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_profile(
        cls,
        profile: PortProfile,
        home: Path,
        variables: Mapping[str, str] | None = None,
        *,
        unset: Iterable[str] = (),
        app_args: Mapping[str, Any] | None = None,
        predictor_config: Mapping[str, Any] | None = None,
        remove_ray_temp: bool = False,
    ) -> Self:
        """A stack on `profile`'s ports in `home`, with further `variables` (not started)."""
        merged = {**profile.env(), "RAYLINE_HOME": str(home), **(variables or {})}
        with environ(merged, unset):
            settings = Settings()
        return cls(
            settings,
            name=profile.name,
            variables=merged,
            unset=tuple(unset),
            app_args=dict(app_args or {}),
            predictor_config=dict(predictor_config or {}),
            remove_ray_temp=remove_ray_temp,
        )

    # --- where it is -------------------------------------------------------------------------
    @property
    def home(self) -> Path:
        return self.settings.home

    @property
    def url(self) -> str:
        return self.settings.serve_url

    @property
    def configs(self) -> Path:
        """Where configs given to this stack are written (training configs, serve configs)."""
        path = self.home / "configs"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def admin_key(self) -> str:
        return self._key("admin")

    @property
    def predict_key(self) -> str:
        return self._key("predict")

    def _key(self, role: str) -> str:
        key = next((key for got, key in read_keys(self.settings) if got == role), None)
        if key is None:
            raise StackError(f"the stack in {self.home} has no {role} key (is it up?)")
        return key

    @property
    def env(self) -> dict[str, str]:
        """The environment a user's shell has after `source <home>/env`."""
        env = {k: v for k, v in os.environ.items() if k not in self.unset}
        env.update(self.variables)
        env.update(client_env(self.settings))
        env["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
        return env

    def pids(self) -> list[int]:
        """Every process of this stack: the Ray head's and the MLflow server's."""
        return sorted(stack_pids(self.settings))

    def replica_pids(self, deployment: str) -> set[int]:
        """The pids of this stack's Serve replicas of `deployment` (their process title)."""
        title = f"ray::ServeReplica:rayline:{deployment}"
        return {pid for pid in self.pids() if procfs.command(pid).startswith(title)}

    # --- start and stop ----------------------------------------------------------------------
    def enter_environment(self) -> None:
        """Put the stack's variables and client settings in os.environ (until `down`), so this
        process and the processes it starts use this stack."""
        if self._environment is None:
            self._environment = ExitStack()
            variables = {**self.variables, **client_env(self.settings)}
            self._environment.enter_context(environ(variables, self.unset))

    def leave_environment(self) -> None:
        if self._environment is not None:
            self._environment.close()
            self._environment = None

    def up(self, wait_ports_s: float = 30) -> Self:
        """Start MLflow and the Ray head (what is not running yet) on the stack's ports."""
        PortProfile.from_settings(self.name, self.settings).wait_free(wait_ports_s)
        self.enter_environment()
        start_stack(self.settings)
        return self

    def stop(self) -> None:
        """Stop the joined nodes, what `up` recorded, and any process of this stack's Ray head
        (a `ray start` that failed half-way is not recorded)."""
        for temp_dir in self.extra_nodes:
            stop_ray(str(temp_dir))
            shutil.rmtree(temp_dir, ignore_errors=True)
        self.extra_nodes.clear()
        if (self.home / "started.json").exists():
            stop_stack(self.settings)
        head_temp_dir = ray_temp_dir(self.settings)
        stop_ray(str(head_temp_dir), self.settings.ray_gcs_address)
        if self.remove_ray_temp and not head_temp_dir.is_relative_to(self.home):
            shutil.rmtree(head_temp_dir, ignore_errors=True)

    def down(self) -> None:
        """`stop`, then the environment as it was before `up`."""
        try:
            self.stop()
        finally:
            self.leave_environment()

    def __enter__(self) -> Self:
        try:
            return self.up()
        except PortsInUse:
            raise  # nothing started and nothing changed: another stack's processes are left be
        except BaseException:
            self.down()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.down()

    def add_node(self, name: str, num_cpus: int, resources: dict[str, float]) -> Path:
        """`ray start --address=<head>` of one more node with its own ports and temp dir."""
        temp_dir = Path("/tmp") / f"rl-{name}-{uuid.uuid4().hex[:8]}"  # noqa: S108 - ours
        self.extra_nodes.append(temp_dir)
        (agent,) = free_ports(1)
        result = subprocess.run(
            [
                str(BIN / "ray"), "start",
                f"--address={self.settings.ray_gcs_address}",
                "--num-cpus", str(num_cpus),
                "--resources", json.dumps(resources),
                "--object-store-memory", str(300_000_000),
                "--dashboard-agent-listen-port", str(agent),
                "--temp-dir", str(temp_dir),
                "--disable-usage-stats",
            ],
            env=ray_env(self.settings),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise StackError(f"ray start (worker) failed:\n{result.stdout}\n{result.stderr}")
        return temp_dir

    # --- the CLIs ----------------------------------------------------------------------------
    def run(
        self, *args: str, timeout: float = 600, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run a CLI (ray, serve, python) as a user would, in the stack's environment."""
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
            raise StackError(
                f"{' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        return result

    def train(
        self, config: Path, *extra: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """`ray job submit -- python -m jobs.train CONFIG`, as the README says."""
        return self.run(
            str(BIN / "ray"), "job", "submit", "--address", self.settings.ray_dashboard_url,
            "--", "python", "-m", "jobs.train", str(config), *extra,
            check=check, timeout=timeout,
        )  # fmt: skip

    def serve_config(
        self, models: Sequence[str], ingress_options: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """serve_config.yaml on this stack's port serving `models` by their champion alias."""
        return serve_config(
            [{"name": name, "alias": "champion"} for name in models],
            self.settings.serve_port,
            args=self.app_args,
            predictor_config=self.predictor_config,
            ingress_options=ingress_options,
        )

    def deploy(
        self,
        models: Sequence[str],
        ingress_options: Mapping[str, Any] | None = None,
        *,
        seconds: float = 240,
    ) -> Path:
        """`serve deploy` of `serve_config(models)`, then wait until it serves them."""
        return self.deploy_config(self.serve_config(models, ingress_options), seconds)

    def deploy_config(self, config: Mapping[str, Any], seconds: float = 240) -> Path:
        """`serve deploy` of `config` (written to `configs/serve_config.yaml`); returns once the
        app runs that config and /ready answers 200 for exactly its models."""
        path = self.configs / "serve_config.yaml"
        path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
        models = [
            (m["name"], m.get("alias", "champion"))
            for m in config["applications"][0]["args"]["models"]
        ]
        since = time.time()
        # Explicit address: a `serve` without one deploys to whatever answers on port 8265.
        self.run(
            str(BIN / "serve"), "deploy", "--address", self.settings.ray_dashboard_url, str(path),
            timeout=180,
        )  # fmt: skip
        self.wait_deployed(since, seconds)
        self.wait_ready(seconds, models)
        return path

    def jobs(self) -> Any:
        """A Ray `JobSubmissionClient` for this stack, with the cluster's token."""
        from ray.job_submission import JobSubmissionClient

        token = ray_token()
        headers = {"Authorization": f"Bearer {token}"} if token else None
        return JobSubmissionClient(self.settings.ray_dashboard_url, headers=headers)

    def serve_app(self) -> dict[str, Any]:
        """The `rayline` Serve app as `serve status` describes it (status, last deploy time,
        deployments and their replicas), read from the dashboard's Serve API: polling it costs
        no Python start-up, where each `serve status` costs a CPU-second. {} when not deployed
        or the dashboard does not answer."""
        try:
            details = dashboard_get(self.settings, "/api/serve/applications/", timeout=10)
        except (OSError, ValueError):
            return {}
        app: dict[str, Any] = (details.get("applications") or {}).get("rayline") or {}
        return app

    def wait_deployed(self, since: float, seconds: float = 240) -> None:
        """Until the app is RUNNING from a deployment made after `since` (the old config can
        still look ready just after `serve deploy` returns)."""
        deadline = time.monotonic() + seconds
        app: dict[str, Any] = {}
        while time.monotonic() < deadline:
            app = self.serve_app()
            if app.get("status") == "RUNNING" and app.get("last_deployed_time_s", 0) >= since - 1:
                return
            time.sleep(0.25)
        raise StackError(
            f"the Serve app did not reach RUNNING in {seconds:.0f}s: "
            f"{app.get('status', 'not deployed')} {app.get('message', '')}"
        )

    def wait_ready(self, seconds: float = 240, models: list[tuple[str, str]] | None = None) -> None:
        """Until the ingress answers /ready with 200 (every served model loaded) and, if given,
        serves exactly `models` as (name, alias)."""
        deadline = time.monotonic() + seconds
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                status, body, _headers = self.http("GET", "/ready", key=None, timeout=5)
            except OSError as exc:
                last = str(exc)
            else:
                served = [(m["name"], m["alias"]) for m in body["models"]] if status == 200 else []
                if status == 200 and (models is None or served == models):
                    return
                last = f"serving {served}" if status == 200 else f"HTTP {status}"
            time.sleep(0.25)
        raise StackError(f"{self.url}/ready not ready after {seconds:.0f}s: {last}")

    # --- the HTTP API ------------------------------------------------------------------------
    def http(
        self,
        method: str,
        path: str,
        body: Any = None,
        key: str | None = "admin",
        headers: Mapping[str, str] | None = None,
        raw: bytes | None = None,
        timeout: float = 60,
    ) -> tuple[int, Any, Message]:
        """One HTTP call to the ingress with the `key` role's key (None: no key); returns
        (status, body parsed as JSON or text, headers)."""
        all_headers = dict(headers or {})
        if key is not None:
            all_headers["Authorization"] = f"Bearer {self._key(key)}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        request = urllib.request.Request(  # noqa: S310 - the stack's loopback ingress
            self.url + path, data=data, method=method, headers=all_headers
        )
        try:
            context = serve_context(self.settings)  # the ingress's certificate, with TLS on
            with urllib.request.urlopen(  # noqa: S310
                request, timeout=timeout, context=context
            ) as response:
                payload, status, got = response.read(), response.status, response.headers
        except urllib.error.HTTPError as exc:
            payload, status, got = exc.read(), exc.code, exc.headers
        try:
            parsed: Any = json.loads(payload)
        except ValueError:
            parsed = payload.decode(errors="replace")
        return status, parsed, got

    def api(self, method: str, path: str, body: Any = None, timeout: float = 30) -> tuple[int, Any]:
        """One admin call to the HTTP API: (status, parsed body)."""
        status, parsed, _headers = self.http(method, path, body, timeout=timeout)
        return status, parsed
