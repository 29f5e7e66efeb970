"""The stack's two services, the MLflow server and the Ray head: `up`, `down` and their status.

`up` starts only what is not already answering and records what it started (`supervisor`);
`down` stops only that.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import NoReturn

from rayline.keys import key_id, key_record, new_key, parse_keys, read_keys
from rayline.priority import yield_control_plane
from rayline.settings import Settings
from rayline.stack.ray_env import ensure_ray_token, ray_env, ray_start_args, ray_temp_dir
from rayline.stack.s3 import ensure_bucket
from rayline.stack.supervisor import (
    BIN,
    answers,
    head_pids,
    read_started,
    record_started,
    stop_mlflow,
    stop_ray,
    wait_for,
)
from rayline.state import open_store
from rayline.state.access import KeyStore


def ensure_api_keys(settings: Settings) -> Path | None:
    """An admin and a predict key for an embedded stack (`RAYLINE_API_KEYS` unset), made once:
    kept as salted hashes in the state database, in plain text only in `<home>/credentials`
    (mode 600, the local operator's copy that `make demo`, Prometheus and the tests read).

    Keys in the credentials file that the database lacks (a wiped state, or an `api_keys`
    file of Rayline before hashed keys, which this renames) are added; a key revoked there
    stays revoked."""
    if settings.api_keys is not None:
        return None
    path = settings.credentials_file
    legacy = settings.home / "api_keys"
    if legacy.exists() and not path.exists():
        legacy.rename(path)
    store = open_store(settings)
    try:
        keys = KeyStore(store.engine)
        if not path.exists():
            made = {role: new_key() for role in ("admin", "predict")}
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.writelines(f"{role}:{key}\n" for role, key in made.items())
        known = {record.id for record in keys.all()}
        for role, key in parse_keys(path.read_text()):
            if key_id(key) not in known:
                keys.add(key_record(role, "make up", key))
    finally:
        store.close()
    return path


def start_mlflow(settings: Settings) -> int | None:
    """Start the MLflow server unless one answers already; returns the pid it started (the
    session the server runs in)."""
    process = launch_mlflow(settings)
    if process is None:
        return None
    mlflow_ready(settings, process)
    return process.pid


def launch_mlflow(settings: Settings) -> subprocess.Popen[bytes] | None:
    """Run `mlflow server` (in a session of its own) unless MLflow answers already; it takes a
    few seconds to answer, which `mlflow_ready` waits for."""
    if answers(f"{settings.tracking_uri}/health"):
        return None
    cmd, env = mlflow_command(settings)
    with (settings.logs_dir / "mlflow.log").open("ab") as out:
        return subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )


def serve_mlflow(settings: Settings) -> NoReturn:
    """`mlflow server` in the foreground, as a container's main process (compose.yaml): the
    artifact bucket first, then the server replaces this process."""
    cmd, env = mlflow_command(settings)
    os.execvpe(cmd[0], cmd, env)  # noqa: S606 - argv from settings, no shell


def mlflow_command(settings: Settings) -> tuple[list[str], dict[str, str]]:
    """`mlflow server` for these settings and its environment, once its database is named
    and its artifact store exists."""
    if settings.mode == "production" and settings.mlflow_backend_uri is None:
        raise SystemExit(
            f"no MLflow server answers at {settings.tracking_uri} and RAYLINE_MODE=production "
            "starts one only on an explicit database: set RAYLINE_MLFLOW_BACKEND_URI "
            "(e.g. postgresql://user@host:5432/mlflow)"
        )
    ensure_bucket(settings)
    artifacts = settings.artifacts_destination
    if not artifacts.startswith("s3://"):
        Path(artifacts).mkdir(parents=True, exist_ok=True)
    cmd = [
        str(BIN / "mlflow"),
        "server",
        "--artifacts-destination",
        artifacts,
        "--host",
        settings.mlflow_host,
        "--port",
        str(settings.mlflow_port),
        "--workers",
        str(settings.mlflow_workers),
    ]
    env = {
        # MLflow 3's job runner (GenAI evaluation, ~8 huey processes) is unused by Rayline and
        # doubles the server's start time and memory; a user's own setting wins.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        **os.environ,
        **settings.storage_env,
        "MLFLOW_TRACKING_URI": "",
        # Through the environment, not argv: a database password stays out of `ps`.
        "MLFLOW_BACKEND_STORE_URI": settings.backend_uri,
    }
    return cmd, env


def mlflow_ready(settings: Settings, process: subprocess.Popen[bytes]) -> None:
    """Wait until the MLflow server `launch_mlflow` started answers, then end its launcher.

    `mlflow server` prepares the database, runs uvicorn as its child and only waits for it,
    holding all of MLflow's imports (~180 MB). Once the server answers, the launcher is ended;
    the server keeps the launcher's session, by which `down` and `stack_pids` find it."""
    # A first start on an empty PostgreSQL runs all of MLflow's schema migrations.
    log = settings.logs_dir / "mlflow.log"
    wait_for(f"{settings.tracking_uri}/health", "MLflow", log, seconds=180, process=process)
    process.kill()
    process.wait()


def start_ray(settings: Settings) -> str | None:
    """Start the Ray head unless its dashboard answers already; returns its temp dir."""
    if answers(settings.ray_dashboard_url):
        return None
    ensure_ray_token()
    temp_dir = ray_temp_dir(settings)
    log = settings.logs_dir / "ray-start.log"
    with log.open("ab") as out:
        result = subprocess.run(
            ray_start_args(settings, temp_dir),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=ray_env(settings),
            check=False,
        )
    if result.returncode != 0:
        raise SystemExit(f"ray start failed (exit {result.returncode}); see {log}")
    wait_for(settings.ray_dashboard_url, "the Ray dashboard", log)
    # Jobs are accepted once the head's dashboard agent is up, a few seconds later.
    wait_for(
        f"http://127.0.0.1:{settings.ray_agent_port}/api/local_raylet_healthz",
        "the Ray dashboard agent",
        log,
    )
    yield_control_plane(
        head_pids(str(temp_dir), settings.ray_gcs_address), settings.control_plane_niceness
    )
    return str(temp_dir)


def up(settings: Settings) -> None:
    """Start what is not running (MLflow, and meanwhile Ray), record it, print where everything
    is."""
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    ensure_api_keys(settings)
    started = read_started(settings)
    mlflow = launch_mlflow(settings)
    if mlflow is not None:
        started["mlflow_pid"] = mlflow.pid
        record_started(settings, started)  # before Ray, so `down` can stop it if Ray fails
    temp_dir = start_ray(settings)  # while MLflow starts: both take seconds of imports
    if temp_dir is not None:
        started["ray_temp_dir"] = temp_dir
        record_started(settings, started)
    if mlflow is not None:
        mlflow_ready(settings, mlflow)
    write_env_file(settings)
    prometheus_files(settings)
    print(status_text(settings))


def prometheus_files(settings: Settings) -> None:
    """What deploy/prometheus/prometheus.yml reads from the home, whatever the checkout's path:
    `prometheus_key` (the predict key alone, mode 600; only for keys `make up` generated) and
    `ray_session_latest`, a link to the Ray head's current session (its service-discovery file
    lists every node's metrics agent)."""
    predict = next((key for role, key in read_keys(settings) if role == "predict"), None)
    if settings.api_keys is None and predict is not None:
        path = settings.home / "prometheus_key"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(predict + "\n")
    link = settings.home / "ray_session_latest"
    link.unlink(missing_ok=True)
    link.symlink_to(ray_temp_dir(settings) / "session_latest")


def up_mlflow(settings: Settings) -> None:
    """Only the MLflow server, for a cluster head whose Ray `ray up cluster.yaml` starts."""
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    started = read_started(settings)
    pid = start_mlflow(settings)
    if pid is not None:
        started["mlflow_pid"] = pid
        record_started(settings, started)
    print(f"MLflow at {settings.tracking_uri}")


def down(settings: Settings) -> None:
    """Stop what `up` recorded, and nothing else."""
    started = read_started(settings)
    if "ray_temp_dir" in started:
        stop_ray(str(started["ray_temp_dir"]), settings.ray_gcs_address)
        print("stopped the Ray head")
    if "mlflow_pid" in started:
        stop_mlflow(int(str(started["mlflow_pid"])))
        print("stopped the MLflow server")
    if not started:
        print("nothing to stop: this checkout's `make up` started nothing that is running")
    record_started(settings, {})


def status_text(settings: Settings) -> str:
    """Where the web UI, the Ray dashboard and MLflow are, and whether each answers."""
    yours = "RAYLINE_API_KEYS" if settings.api_keys is not None else settings.credentials_file

    def line(name: str, url: str, probe: str) -> str:
        return f"{name:<17}{url:<28}({'up' if answers(probe) else 'down'})"

    return "\n".join(
        [
            line("Web UI + API", f"{settings.serve_url}/", f"{settings.serve_url}/health"),
            line("Ray dashboard", settings.ray_dashboard_url, settings.ray_dashboard_url),
            line("MLflow UI", settings.tracking_uri, f"{settings.tracking_uri}/health"),
            f"{'API keys':<17}{yours} (all: python -m rayline.stack keys list)",
            f"{'Client env':<17}source {settings.home / 'env'}",
        ]
    )


def write_env_file(settings: Settings) -> None:
    """Exports a shell needs to use `ray job submit` and `serve deploy` against this stack."""
    lines = [
        f"export RAY_ADDRESS={settings.ray_dashboard_url}",
        f"export RAY_DASHBOARD_ADDRESS={settings.ray_dashboard_url}",  # what `serve` reads
        "export RAY_AUTH_MODE=token",
        f"export MLFLOW_TRACKING_URI={settings.tracking_uri}",
        f"export RAYLINE_HOME={settings.home}",
        f'export PATH="{BIN}:$PATH"',
    ]
    (settings.home / "env").write_text("\n".join(lines) + "\n")
