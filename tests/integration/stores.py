"""Real production stores and a private Rayline stack for the production and scale-out tests.

A SeaweedFS S3 server (real SigV4 auth) and a throw-away PostgreSQL database on loopback, a
Rayline stack started by `rayline.stack.up` on its own ports (independent of the session
`stack` fixture), and extra Ray nodes joined to it. Everything started here is stopped by the
context managers, also when the test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rayline import stack as stack_module
from rayline.settings import PROJECT_ROOT, Settings

BIN = Path(sys.executable).parent
WEED = BIN / "weed"
PG_DSN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) != 0


def wait_ports_free(ports: dict[str, int], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while (busy := [f"{k}={v}" for k, v in ports.items() if not port_free(v)]) and (
        time.monotonic() < deadline
    ):
        time.sleep(1)
    if busy:
        raise RuntimeError(f"ports needed by this test are in use: {', '.join(busy)}")


def terminate(process: subprocess.Popen[bytes], seconds: float = 15) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


# --- S3: SeaweedFS ---------------------------------------------------------------------------


@dataclass
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str

    def client(self, secret_key: str | None = None) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name="us-east-1",
        )

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        paginator = self.client().get_paginator("list_objects_v2")
        return [
            item["Key"]
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        ]


@contextlib.contextmanager
def seaweed_s3(folder: Path) -> Iterator[S3Server]:
    """`weed server -s3` on 127.0.0.1 with one identity (random keys) in its -s3.config."""
    folder.mkdir(parents=True, exist_ok=True)
    access_key = f"rl{secrets.token_hex(8)}"
    secret_key = secrets.token_urlsafe(30)
    config = folder / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "rayline",
                        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    config.chmod(0o600)
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = (
        stack_module.free_ports(8)
    )
    data = folder / "data"
    data.mkdir(exist_ok=True)
    cmd = [
        str(WEED),
        "server",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={data}",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        "-master.volumeSizeLimitMB=64",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        "-volume.max=16",
        "-volume.preStopSeconds=0",
        "-filer",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        f"-filer.localSocket={folder / 'filer.sock'}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        f"-s3.localSocket={folder / 's3.sock'}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config}",
        "-iam=false",
        "-webdav=false",
        "-metricsPort=0",
    ]
    log = folder / "weed.log"
    with log.open("ab") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=folder)
    server = S3Server(f"http://127.0.0.1:{s3}", access_key, secret_key)
    try:
        _wait_s3(server, process, log)
        yield server
    finally:
        terminate(process, seconds=3)  # its data is thrown away; it lingers ~15 s on SIGTERM
        # weed puts its gRPC Unix sockets in /tmp, named by port; they are ours to remove.
        for port in (master_grpc, volume_grpc, filer_grpc, s3_grpc):
            for path in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                path.unlink(missing_ok=True)


def _wait_s3(server: S3Server, process: subprocess.Popen[bytes], log: Path) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    deadline = time.monotonic() + 60
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"weed server exited ({process.returncode}); see {log}")
        try:
            server.client().list_buckets()
            return
        except (BotoCoreError, ClientError) as exc:
            last = exc
            time.sleep(0.5)
    raise RuntimeError(f"SeaweedFS S3 did not answer within 60s ({last}); see {log}")


# --- PostgreSQL ------------------------------------------------------------------------------


def pg_query(dbname: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    import psycopg2

    connection = psycopg2.connect(**{**PG_DSN, "dbname": dbname})
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, args or None)
            return list(cursor.fetchall())
    finally:
        connection.close()


@contextlib.contextmanager
def postgres_database() -> Iterator[tuple[str, str]]:
    """A uniquely named database on the local PostgreSQL; yields (name, SQLAlchemy URI)."""
    import psycopg2

    name = f"rayline_test_{uuid.uuid4().hex[:12]}"
    connection = psycopg2.connect(**PG_DSN)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield name, f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.close()


# --- A Rayline stack on its own ports ---------------------------------------------------------


@dataclass
class LocalStack:
    """A stack started by `rayline.stack.up`, driven through the CLIs a user would run."""

    settings: Settings
    env: dict[str, str]
    workdir: Path
    extra_nodes: list[str] = field(default_factory=list)

    @property
    def admin_key(self) -> str:
        key = stack_module.admin_key(self.settings)
        assert key is not None
        return key

    def run(
        self, *args: str, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
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

    def train(self, config: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`ray job submit -- python -m jobs.train CONFIG`, as the README says."""
        return self.run(
            str(BIN / "ray"), "job", "submit", "--address", self.settings.ray_dashboard_url,
            "--", "python", "-m", "jobs.train", str(config),
            check=check,
        )  # fmt: skip

    def deploy(self, models: list[str], predictor_options: dict[str, Any] | None = None) -> None:
        """`serve deploy` of a copy of serve_config.yaml with this stack's port and models."""
        config = yaml.safe_load((PROJECT_ROOT / "serve_config.yaml").read_text())
        config["http_options"]["port"] = self.settings.serve_port
        app = config["applications"][0]
        app["args"]["models"] = [{"name": name, "alias": "champion"} for name in models]
        app["args"]["scheduler_tick_s"] = 1
        for deployment in app["deployments"]:
            if deployment["name"] == "Predictor":
                deployment["user_config"]["poll_interval_s"] = 1
                deployment["ray_actor_options"].update(predictor_options or {})
        path = self.workdir / "serve_config.yaml"
        path.write_text(yaml.safe_dump(config))
        # Explicit address: `serve` reads RAY_DASHBOARD_ADDRESS (not RAY_ADDRESS) and would
        # otherwise deploy to whatever answers on the default port 8265.
        self.run(
            str(BIN / "serve"), "deploy", "--address", self.settings.ray_dashboard_url, str(path)
        )
        stack_module.wait_ready(self.settings, seconds=180)

    def http(
        self, method: str, path: str, body: Any = None, timeout: float = 30
    ) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.settings.serve_url + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={
                "Authorization": f"Bearer {self.admin_key}",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, payload = exc.code, exc.read()
        try:
            return status, json.loads(payload)
        except ValueError:
            return status, payload.decode(errors="replace")

    def add_node(self, name: str, num_cpus: int, resources: dict[str, float]) -> Path:
        """`ray start --address=<head>` of one more node with its own ports and temp dir."""
        temp_dir = Path("/tmp") / f"rl-{name}-{uuid.uuid4().hex[:8]}"
        self.extra_nodes.append(str(temp_dir))
        (agent,) = stack_module.free_ports(1)
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
            env=stack_module.ray_env(self.settings),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise AssertionError(f"ray start (worker) failed:\n{result.stdout}\n{result.stderr}")
        return temp_dir


def result_event(stdout: str, event: str = "result") -> dict[str, Any]:
    """The job's machine-readable `@rayline {...}` event of that kind."""
    for line in stdout.splitlines():
        if line.startswith("@rayline "):
            payload: dict[str, Any] = json.loads(line.split(" ", 1)[1])
            if payload["event"] == event:
                return payload
    raise AssertionError(f"no {event} event in the job output:\n{stdout[-3000:]}")


@contextlib.contextmanager
def local_stack(
    home: Path, ports: dict[str, int], env_vars: dict[str, str] | None = None
) -> Iterator[LocalStack]:
    """`rayline.stack.up` with these ports and RAYLINE_* settings, `down` at the end.

    The variables are put in os.environ before Settings is built, so the Ray processes that
    `up` starts inherit them (that is how a user's shell or `.env` reaches them), and are
    restored afterwards.
    """
    wait_ports_free(ports)
    variables = {k: str(v) for k, v in ports.items()}
    variables.update(
        RAYLINE_HOME=str(home),
        RAYLINE_EXPERIMENT="rayline-tests",
        RAYLINE_RAY_NUM_CPUS="2",
        RAYLINE_RAY_OBJECT_STORE_BYTES=str(500_000_000),
    )
    variables.update(env_vars or {})
    clients = ["RAY_ADDRESS", "RAY_DASHBOARD_ADDRESS", "RAY_AUTH_MODE"]
    saved = {k: os.environ.get(k) for k in [*variables, *clients]}
    os.environ.update(variables)
    settings = Settings()
    os.environ.update(
        RAY_ADDRESS=settings.ray_dashboard_url,
        RAY_DASHBOARD_ADDRESS=settings.ray_dashboard_url,
        RAY_AUTH_MODE="token",
    )
    workdir = home / "work"
    workdir.mkdir(parents=True, exist_ok=True)
    local = LocalStack(
        settings,
        {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
        workdir,
    )
    try:
        stack_module.up(settings)
        yield local
    finally:
        for temp_dir in local.extra_nodes:
            stack_module.stop_ray(temp_dir)
            shutil.rmtree(temp_dir, ignore_errors=True)
        stack_module.down(settings)
        # A head that failed half-way through `ray start` is not in started.json.
        head_temp_dir = stack_module.ray_temp_dir(settings)
        stack_module.stop_ray(str(head_temp_dir), settings.ray_gcs_address)
        if not head_temp_dir.is_relative_to(home):  # the short /tmp/rayline-* alias
            shutil.rmtree(head_temp_dir, ignore_errors=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
