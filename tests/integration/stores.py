"""Real production stores and a private Rayline stack for the production tests (cluster.py).

A SeaweedFS S3 server (real SigV4 auth) and a throw-away PostgreSQL database on loopback, and a
Rayline stack of the product's harness (`rayline.stack.harness`) on its own profile's ports,
independent of the session `stack` fixture. Everything started here is stopped by the context
managers, also when the test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rayline.stack import free_ports
from rayline.stack.harness import BIN, LocalStack
from rayline.stack.profiles import PortProfile
from tests.stack import APP_ARGS, EXPERIMENT, PREDICTOR_CONFIG

WEED = BIN / "weed"
PG_DSN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}


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
    command: list[str] = field(default_factory=list)
    folder: Path = Path()
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start `weed server` (again: its data, buckets included, is in its folder) and wait
        until S3 answers."""
        log = self.folder / "weed.log"
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command, stdout=out, stderr=subprocess.STDOUT, cwd=self.folder
            )
        _wait_s3(self, self.process, log)

    def kill(self) -> None:
        """SIGKILL, as in a crash: the S3 endpoint refuses connections until `start`."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.remove_sockets()

    def remove_sockets(self) -> None:
        """weed's Unix sockets: in its folder, and its gRPC ones in /tmp, named by port. A
        killed weed leaves them, and they are ours to remove."""
        for path in self.folder.glob("*.sock"):
            path.unlink(missing_ok=True)
        grpc_ports = [a.split("=", 1)[1] for a in self.command if ".port.grpc=" in a]
        for port in grpc_ports:
            for path in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                path.unlink(missing_ok=True)

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
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = free_ports(8)
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
    server = S3Server(f"http://127.0.0.1:{s3}", access_key, secret_key, cmd, folder)
    try:
        server.start()
        yield server
    finally:
        if server.process is not None:
            terminate(server.process, seconds=3)  # its data is thrown away; SIGTERM lingers ~15 s
        server.remove_sockets()


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


PG_BIN = Path("/usr/lib/postgresql")


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL's tools refuse to run as root: as root, run them as the `postgres` user."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _pg_tool(name: str) -> str:
    found = sorted(PG_BIN.glob(f"*/bin/{name}"))
    if not found:
        raise RuntimeError(f"no {name} under {PG_BIN}/*/bin: install the postgresql package")
    return str(found[-1])


@dataclass
class Postgres:
    """A PostgreSQL server on loopback, trust auth, user postgres: the machine's (port 5432), or
    a private one (`private_postgres`, with `data`) that a test may stop and start."""

    port: int = 5432
    data: Path | None = None

    def connect(self, dbname: str = "postgres") -> Any:
        import psycopg2

        return psycopg2.connect(**{**PG_DSN, "port": self.port, "dbname": dbname})

    def query(self, dbname: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        connection = self.connect(dbname)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, args or None)
                return list(cursor.fetchall())
        finally:
            connection.close()

    @contextlib.contextmanager
    def database(self) -> Iterator[tuple[str, str]]:
        """A uniquely named database; yields (name, SQLAlchemy URI)."""
        name = f"rayline_test_{uuid.uuid4().hex[:12]}"
        self.execute(f'CREATE DATABASE "{name}"')
        try:
            yield name, f"postgresql://postgres@127.0.0.1:{self.port}/{name}"
        finally:
            self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def execute(self, sql: str) -> None:
        """A statement outside a transaction (CREATE/DROP DATABASE)."""
        connection = self.connect()
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
        finally:
            connection.close()

    def _data(self) -> Path:
        if self.data is None:
            raise RuntimeError("the machine's PostgreSQL is not the tests' to stop or start")
        return self.data

    def _pg_ctl(self, *args: str) -> None:
        command = [_pg_tool("pg_ctl"), "-D", str(self._data() / "db"), "-w", "-t", "60", *args]
        subprocess.run(_as_postgres(command), check=True, capture_output=True, timeout=90)

    def stop(self) -> None:
        """A fast shutdown: open connections are cut, as when the server restarts."""
        self._pg_ctl("stop", "-m", "fast")

    def start(self) -> None:
        data = self._data()
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {data / 'socket'}"
        self._pg_ctl("start", "-l", str(data / "postgres.log"), "-o", options + " -c fsync=off")


@contextlib.contextmanager
def private_postgres() -> Iterator[Postgres]:
    """A PostgreSQL server of its own (initdb, a free loopback port), removed at the end.
    Its folder is outside pytest's (mode 700, root's) so that the postgres user can use it."""
    folder = Path(tempfile.mkdtemp(prefix="rayline-pg-"))
    (folder / "socket").mkdir()
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        shutil.chown(folder / "socket", "postgres")
    (port,) = free_ports(1)
    server = Postgres(port, folder)
    try:
        subprocess.run(
            _as_postgres(
                [_pg_tool("initdb"), "-D", str(folder / "db"), "-U", "postgres", "--auth=trust"]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        server.start()
        yield server
    finally:
        with contextlib.suppress(Exception):
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)


# --- A Rayline stack on its own ports ---------------------------------------------------------


@contextlib.contextmanager
def local_stack(
    home: Path, profile: PortProfile, env_vars: dict[str, str] | None = None
) -> Iterator[LocalStack]:
    """`rayline.stack.up` on `profile`'s ports with the test stacks' settings and these
    RAYLINE_* ones (2 CPUs, a small object store), `down` at the end."""
    variables = {
        **EXPERIMENT,
        "RAYLINE_RAY_NUM_CPUS": "2",
        "RAYLINE_RAY_OBJECT_STORE_BYTES": str(500_000_000),
        **(env_vars or {}),
    }
    with LocalStack.from_profile(
        profile,
        home,
        variables,
        app_args=APP_ARGS,
        predictor_config=PREDICTOR_CONFIG,
        remove_ray_temp=True,
    ) as stack:
        yield stack
