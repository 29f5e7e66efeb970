"""Real production stores and a private Rayline stack for the production tests (cluster.py).

A SeaweedFS S3 server (real SigV4 auth) and a throw-away PostgreSQL database on loopback, and a
Rayline stack of the product's harness (`rayline.stack.harness`) on its own profile's ports,
independent of the session `stack` fixture. Everything started here is stopped by the context
managers, also when the test fails.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
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
