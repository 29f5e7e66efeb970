"""Rayline's runtime settings: one `RAYLINE_*` environment class shared by stack, jobs and serving.

The same code runs against the embedded default (SQLite + local files under `.rayline/`) and
production (PostgreSQL + S3) by changing these settings only.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rayline.tls import check_pair

PROJECT_ROOT = Path(__file__).resolve().parents[1]
GRPC_PORT_OFFSET = 1000
"""A stack's Serve gRPC port lies this far above its HTTP port (`Settings.grpc_port`)."""
"""The folder that holds the `rayline` package: a checkout (or Ray's copy of one for a job),
or site-packages when Rayline is installed from a wheel."""
SERVE_PORT_BLOCK = 18
"""Ports a stack's Serve owns from its Serve port on: the port, 16 ingress replicas, the
fallback proxy; and as many from its gRPC port on (`Settings.grpc_port`), for gRPC
(`rayline.stack.ray_env.serve_ports`)."""


def shipped_path(in_checkout: str, package: str, in_package: str) -> Path:
    """A folder Rayline ships: `PROJECT_ROOT / in_checkout` when Rayline runs from a source
    tree, else `in_package` inside `package`, the package-data package pyproject.toml installs
    it as. A folder that was not shipped (a UI never built) is a path that does not exist."""
    checkout = PROJECT_ROOT / in_checkout
    if (PROJECT_ROOT / "pyproject.toml").is_file():
        return checkout
    spec = find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return checkout
    return Path(next(iter(spec.submodule_search_locations))) / in_package


class Settings(BaseSettings):
    """Environment settings; every field can be set as `RAYLINE_<FIELD>` or in `.env`."""

    model_config = SettingsConfigDict(
        env_prefix="RAYLINE_", env_file=".env", extra="ignore", frozen=True
    )

    mode: Literal["embedded", "production"] = "embedded"
    """`production` refuses to start without explicit backend, artifact store and API keys."""

    home: Path = PROJECT_ROOT / ".rayline"
    """Folder for all local state: MLflow database and artifacts, Ray session, keys, logs."""

    # --- MLflow --------------------------------------------------------------------------
    mlflow_host: str = "127.0.0.1"
    """Interface the MLflow tracking server binds to."""

    mlflow_port: int = 5050
    """Port of the MLflow tracking server (UI and REST API)."""

    mlflow_workers: int = Field(1, ge=1)
    """Server worker processes (~250 MB each). One serves a single machine's jobs and UI; raise
    it for many concurrent clients on a PostgreSQL backend."""

    mlflow_tracking_uri: str | None = None
    """URI every process logs to; defaults to the local server `http://<host>:<port>`."""

    mlflow_backend_uri: str | None = None
    """MLflow metadata store (`sqlite:///…` or `postgresql://…`); default SQLite in `home`."""

    mlflow_artifacts_destination: str | None = None
    """Where the MLflow server stores artifacts (`s3://bucket/prefix` or a folder)."""

    experiment: str = "rayline"
    """MLflow experiment that training runs are logged to."""

    # --- Rayline state ---------------------------------------------------------------------
    state_database_uri: str | None = None
    """Rayline's own database (schedules, run history): `postgresql://…` or `sqlite:///…`;
    default SQLite `state.db` in `home`."""

    # --- S3-compatible object storage ------------------------------------------------------
    s3_endpoint_url: str | None = None
    """S3 endpoint for artifacts and `s3://` datasets (MinIO, SeaweedFS); None means AWS."""

    aws_access_key_id: SecretStr | None = None
    """Access key for the S3 endpoint; passed to MLflow and workers through the environment."""

    aws_secret_access_key: SecretStr | None = None
    """Secret key for the S3 endpoint."""

    # --- Ray -------------------------------------------------------------------------------
    ray_node_ip_address: str = "127.0.0.1"
    """Address the head's Ray processes listen on. 127.0.0.1 keeps every one of them on
    loopback (a single machine); the machine's address lets other nodes join."""

    ray_gcs_port: int = 6380
    """GCS port of the local head (6379 is often Redis's)."""

    ray_dashboard_port: int = 8265
    """Ray dashboard and Jobs API port (bound to 127.0.0.1)."""

    ray_agent_port: int = 52365
    """HTTP port of the head's dashboard agent (which runs submitted jobs)."""

    ray_client_port: int = 10001
    """Ray Client server port of the head."""

    ray_num_cpus: int = 2
    """CPUs the local head offers to Ray."""

    ray_object_store_bytes: int = 1_000_000_000
    """Object store memory of the local head, in bytes."""

    ray_redis_address: str | None = None
    """`host:port` of a Redis for GCS fault tolerance; None keeps GCS state in memory."""

    control_plane_niceness: int = Field(10, ge=0, le=19)
    """CPU niceness of Ray's dashboard and dashboard agent on a head `make up` starts
    (`rayline.priority`): the control plane yields to serving, most of all while the GCS is
    down and they spin reconnecting. 0 leaves them at serving's priority."""

    training_niceness: int = Field(10, ge=0, le=19)
    """CPU niceness of training jobs (the driver and every trial): serving keeps its latency
    while a job trains on the same machine, and a job still gets every CPU serving leaves idle.
    0 runs training at serving's priority."""

    # --- Serving -------------------------------------------------------------------------
    serve_host: str = "127.0.0.1"
    """Host the Serve HTTP proxy is reached on (see serve_config.yaml `http_options`)."""

    serve_port: int = 8000
    """Port of the Serve HTTP proxy."""

    api_keys: SecretStr | None = None
    """Comma-separated `role:key` pairs (roles: admin, predict): keys the environment holds,
    beside those in the state database (`python -m rayline.stack keys`). Unset in the embedded
    default, whose clients read the keys `make up` made from `<home>/credentials`."""

    web_dist: Path = shipped_path("web/dist", "rayline_web", "dist")
    """Built web UI that the ingress serves at `/`: `make web` builds it into `web/dist`."""

    # --- TLS at the Serve ingress (README "TLS") -------------------------------------------
    tls_cert_file: Path | None = None
    """PEM certificate (chain) the Serve ingress presents; with `tls_key_file` set too, the
    ingress speaks HTTPS (and gRPC over TLS) instead of plain HTTP."""

    tls_key_file: Path | None = None
    """Unencrypted PEM private key of `tls_cert_file`; the same path if one file holds both."""

    tls_redirect_port: int | None = Field(None, ge=1, le=65535)
    """Loopback port where plain HTTP is answered with a 301 to the HTTPS ingress; unset: none."""

    @field_validator("tls_cert_file", "tls_key_file")
    @classmethod
    def _absolute(cls, path: Path | None) -> Path | None:
        # Ray starts HAProxy, jobs and replicas in other folders: they get the absolute path.
        return None if path is None else path.expanduser().absolute()

    @model_validator(mode="after")
    def _tls_files_serve(self) -> Settings:
        cert, key = self.tls_cert_file, self.tls_key_file
        if (cert is None) != (key is None):
            given, missing = (
                ("RAYLINE_TLS_CERT_FILE", "RAYLINE_TLS_KEY_FILE")
                if key is None
                else ("RAYLINE_TLS_KEY_FILE", "RAYLINE_TLS_CERT_FILE")
            )
            raise ValueError(
                f"{given} is set but {missing} is not: TLS needs both (the same path when one "
                "PEM file holds the certificate and its key), or neither for plain HTTP"
            )
        if cert is not None and key is not None:
            check_pair(cert, key)
        if self.tls_redirect_port is not None:
            if cert is None:
                raise ValueError(
                    "RAYLINE_TLS_REDIRECT_PORT redirects plain HTTP to HTTPS: set "
                    "RAYLINE_TLS_CERT_FILE and RAYLINE_TLS_KEY_FILE too, or unset it"
                )
            blocks = [range(p, p + SERVE_PORT_BLOCK) for p in (self.serve_port, self.grpc_port)]
            if any(self.tls_redirect_port in block for block in blocks):
                raise ValueError(
                    f"RAYLINE_TLS_REDIRECT_PORT={self.tls_redirect_port} lies among the ports "
                    f"Serve takes ({', '.join(f'{b.start}-{b.stop - 1}' for b in blocks)}): "
                    "give the redirect a port outside them"
                )
        return self

    @model_validator(mode="after")
    def _production_needs_explicit_stores(self) -> Settings:
        if self.mode == "production":
            required = ["mlflow_artifacts_destination", "api_keys", "state_database_uri"]
            if self.mlflow_tracking_uri is None:
                # The process that starts the MLflow server needs its database; Ray's jobs and
                # replicas only talk to the server (RAYLINE_MLFLOW_TRACKING_URI) and never get it.
                required.insert(0, "mlflow_backend_uri")
            missing = [
                f"RAYLINE_{name.upper()}" for name in required if getattr(self, name) is None
            ]
            if missing:
                message = "RAYLINE_MODE=production needs " + ", ".join(missing) + " to be set"
                if self.state_database_uri is None:
                    # Schedules must survive the head node, so no SQLite file in `home` here.
                    message += (
                        "; RAYLINE_STATE_DATABASE_URI is Rayline's own database for schedules"
                        " and run history, e.g. postgresql://user@host:5432/rayline"
                    )
                raise ValueError(message)
        return self

    @property
    def ray_gcs_address(self) -> str:
        return f"{self.ray_node_ip_address}:{self.ray_gcs_port}"

    @property
    def tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"http://{self.mlflow_host}:{self.mlflow_port}"

    @property
    def backend_uri(self) -> str:
        uri = self.mlflow_backend_uri or f"sqlite:///{self.home / 'mlflow.db'}"
        # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; Rayline ships psycopg2, so
        # the plain URI a user writes names that driver (an explicit +driver is kept).
        for scheme in ("postgresql://", "postgres://"):
            if uri.startswith(scheme):
                return "postgresql+psycopg2://" + uri.removeprefix(scheme)
        return uri

    @property
    def state_uri(self) -> str:
        """Rayline's state database; `rayline.state` picks the psycopg2 driver for PostgreSQL."""
        return self.state_database_uri or f"sqlite:///{self.home / 'state.db'}"

    @property
    def artifacts_destination(self) -> str:
        return self.mlflow_artifacts_destination or str(self.home / "artifacts")

    @property
    def ray_dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.ray_dashboard_port}"

    @property
    def serve_url(self) -> str:
        scheme = "https" if self.tls_enabled else "http"
        return f"{scheme}://{self.serve_host}:{self.serve_port}"

    @property
    def tls_enabled(self) -> bool:
        """Whether the Serve ingress terminates TLS (`tls_cert_file` and `tls_key_file` set)."""
        return self.tls_cert_file is not None

    @property
    def grpc_port(self) -> int:
        """Port of the Serve gRPC proxy (V2 gRPC): `serve_port` + 1000, 9000 by default, so
        each stack's gRPC ports follow its HTTP ports (serve_config.yaml `grpc_options`)."""
        return self.serve_port + GRPC_PORT_OFFSET

    @property
    def grpc_target(self) -> str:
        """`host:port` a gRPC client dials."""
        return f"{self.serve_host}:{self.grpc_port}"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def credentials_file(self) -> Path:
        """The local operator's copy of the keys `make up` made (`rayline.keys`)."""
        return self.home / "credentials"

    @property
    def benchmarks_dir(self) -> Path:
        return self.home / "benchmarks"

    @property
    def storage_env(self) -> dict[str, str]:
        """Environment that MLflow's server, clients and Ray workers need to reach S3."""
        env: dict[str, str] = {}
        if self.s3_endpoint_url:
            env["MLFLOW_S3_ENDPOINT_URL"] = self.s3_endpoint_url
            env["AWS_ENDPOINT_URL_S3"] = self.s3_endpoint_url
        if self.aws_access_key_id:
            env["AWS_ACCESS_KEY_ID"] = self.aws_access_key_id.get_secret_value()
        if self.aws_secret_access_key:
            env["AWS_SECRET_ACCESS_KEY"] = self.aws_secret_access_key.get_secret_value()
        return env


def get_settings() -> Settings:
    """Read settings from the environment now (never cached at import time)."""
    return Settings()
