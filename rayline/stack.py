"""The local stack: a Ray head and an MLflow tracking server, started and stopped idempotently.

    python -m rayline.stack up | mlflow | down | status | admin-key | wait-ready | try

`up` starts only what is not already answering and records what it started in
`<home>/started.json`; `down` stops only those. `mlflow` starts only the MLflow server (the
head of a `ray up cluster.yaml` cluster, whose Ray the launcher starts). All state lives under
`RAYLINE_HOME` (default `.rayline/`), logs under `<home>/logs/`.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from pydantic import SecretStr

# admin_key is re-exported: `rayline.stack.admin_key` is what scripts call.
from rayline.keys import admin_key as admin_key
from rayline.settings import Settings, get_settings

BIN = Path(sys.executable).parent
AWS_SECRET_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
)


def _answers(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout):  # noqa: S310 - loopback URL
            return True
    except urllib.error.HTTPError:
        return True  # it answered, even if it wants a token
    except (OSError, ValueError):
        return False


def _wait(
    url: str,
    what: str,
    log: Path,
    seconds: float = 90,
    process: subprocess.Popen[bytes] | None = None,
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _answers(url):
            return
        if process is not None and process.poll() is not None:
            raise SystemExit(f"{what} exited with code {process.returncode}; see {log}")
        time.sleep(0.5)
    if process is not None:  # do not leave a server behind that nothing recorded
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    raise SystemExit(f"{what} did not answer on {url} within {seconds:.0f}s; see {log}")


def free_ports(count: int) -> list[int]:
    """Loopback ports the kernel reports free now (held open together so they are distinct)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def ray_temp_dir(settings: Settings) -> Path:
    """Ray's session folder; Unix socket paths are short, so long homes map into /tmp."""
    inside = settings.home / "ray"
    # AF_UNIX paths stop at 107 bytes and Ray nests them as
    # <temp>/session_<date>_<time>_<usec>_<pid>/sockets/dash_<Module>: ~75 bytes of that is Ray's.
    if len(str(inside)) <= 30:
        return inside
    return Path("/tmp") / f"rayline-{hashlib.sha256(str(settings.home).encode()).hexdigest()[:10]}"  # noqa: S108


def ray_env(settings: Settings) -> dict[str, str]:
    """Environment for Ray processes: token auth, and what jobs and replicas need."""
    env = dict(os.environ)
    # Ray Tune copies AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (and session tokens) from a
    # driver's environment into each trial's runtime_env, which Ray's runtime-env agent logs in
    # clear text. So Ray processes get S3 keys only as RAYLINE_AWS_*, read by rayline.datasets.
    for name in AWS_SECRET_VARS:
        value = env.pop(name, None)
        if value and name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            env.setdefault(f"RAYLINE_{name}", value)
    env.update({k: v for k, v in settings.storage_env.items() if k not in AWS_SECRET_VARS})
    env.update(
        {
            "RAY_AUTH_MODE": "token",
            # Jobs and replicas read the same settings as the process that started the head.
            "RAYLINE_HOME": str(settings.home),
            "RAYLINE_MLFLOW_TRACKING_URI": settings.tracking_uri,
            "RAYLINE_RAY_DASHBOARD_PORT": str(settings.ray_dashboard_port),
            "RAYLINE_SERVE_PORT": str(settings.serve_port),
            "RAYLINE_WEB_DIST": str(settings.web_dist),
            "MLFLOW_TRACKING_URI": settings.tracking_uri,
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    # Settings may come from `.env`, which jobs and replicas (another cwd) do not read: every
    # setting given explicitly reaches them by name (S3 endpoint and keys for `s3://` datasets,
    # API keys for the ingress), except the database URI that only the MLflow server needs.
    env.pop("RAYLINE_MLFLOW_BACKEND_URI", None)
    for name in sorted(settings.model_fields_set - {"mlflow_backend_uri"}):
        value = getattr(settings, name)
        if value is not None:
            secret = isinstance(value, SecretStr)
            env[f"RAYLINE_{name.upper()}"] = value.get_secret_value() if secret else str(value)
    # Ray Serve's throughput settings: HAProxy takes HTTP and hands it straight to the ingress
    # replicas (one Python hop less per request), replicas call each other over gRPC and run
    # user code on their own event loop. `make bench` measured what they buy (README).
    env.setdefault("RAY_SERVE_ENABLE_HA_PROXY", "1")
    env.setdefault("RAY_SERVE_THROUGHPUT_OPTIMIZED", "1")
    env.setdefault("RAY_SERVE_HAPROXY_BINARY_PATH", str(BIN / "rayline-haproxy"))
    # Serve's HTTP ports are the Serve port and the 17 after it: ingress replicas listen on
    # the next 16, which HAProxy forwards to, and the Python proxy HAProxy falls back to while
    # no replica is up on the 17th. Ray's defaults (30000-31000, 8500) are the same for every
    # cluster on a machine, and both are bound with SO_REUSEPORT: with two stacks side by side
    # the kernel handed one stack's requests to the other's ingress.
    env.setdefault("RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT", str(settings.serve_port + 1))
    env.setdefault("RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT", str(settings.serve_port + 16))
    env.setdefault("RAY_SERVE_FALLBACK_PROXY_HTTP_PORT", str(settings.serve_port + 17))
    # HAProxy's stats page and Prometheus listener: a free port per head, not 8404 and 9101.
    # (Its config and sockets go to /tmp/haproxy-serve/<node id>/: one folder per node.)
    stats_port, metrics_port = free_ports(2)
    env.setdefault("RAY_SERVE_HAPROXY_STATS_PORT", str(stats_port))
    env.setdefault("RAY_SERVE_HAPROXY_METRICS_PORT", str(metrics_port))
    if settings.ray_node_ip_address == "127.0.0.1":
        # Ray swaps `--node-ip-address 127.0.0.1` for the machine's address and listens there,
        # unless it runs in its single-machine mode.
        env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    if settings.ray_redis_address:
        env["RAY_REDIS_ADDRESS"] = settings.ray_redis_address
        # A restarted head must find its own state in Redis, and no other cluster's: the
        # namespace is stable per home and port unless one is given explicitly.
        home_id = hashlib.sha256(str(settings.home).encode()).hexdigest()[:8]
        env.setdefault(
            "RAY_external_storage_namespace", f"rayline-{home_id}-{settings.ray_gcs_port}"
        )
        # Serve's controller blocks on GCS key-value writes with no timeout by default; while
        # the GCS is down that stalls routing updates, and with them requests. Ray's own Serve
        # HA tests run with 1 s.
        env.setdefault("RAY_SERVE_KV_TIMEOUT_S", "1")
        # Raylets and workers give up on an unreachable GCS after 60 s by default and exit,
        # taking the replicas with them; leave the head's supervisor time to restart it.
        env.setdefault("RAY_gcs_rpc_server_reconnect_timeout_s", "600")
    return env


def ensure_ray_token() -> None:
    """Ray's token auth needs a token in ~/.ray/auth_token; create one if missing."""
    if os.environ.get("RAY_AUTH_TOKEN") or (Path.home() / ".ray" / "auth_token").exists():
        return
    subprocess.run(
        [str(BIN / "ray"), "get-auth-token", "--generate"],
        check=True,
        env={**os.environ, "RAY_AUTH_MODE": "token"},
        capture_output=True,
    )


def ensure_api_keys(settings: Settings) -> Path:
    """A local admin and predict key in `<home>/api_keys` (mode 600), unless keys are set."""
    path = settings.keys_file
    if settings.api_keys is None and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"admin:rl-admin-{secrets.token_urlsafe(24)}\n")
            handle.write(f"predict:rl-predict-{secrets.token_urlsafe(24)}\n")
    return path


def ensure_bucket(settings: Settings) -> None:
    """Create the artifact bucket on the S3 endpoint if it is missing."""
    destination = settings.artifacts_destination
    if not destination.startswith("s3://"):
        return
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket = destination.removeprefix("s3://").split("/", 1)[0]
    s3 = boto3.client("s3", endpoint_url=settings.s3_endpoint_url, **_s3_credentials(settings))
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise SystemExit(
                f"S3 bucket {bucket} at {settings.s3_endpoint_url or 'AWS'}: {code or exc}; "
                "check RAYLINE_S3_ENDPOINT_URL, RAYLINE_AWS_ACCESS_KEY_ID and "
                "RAYLINE_AWS_SECRET_ACCESS_KEY"
            ) from None
        s3.create_bucket(Bucket=bucket)
    except (BotoCoreError, OSError) as exc:
        raise SystemExit(
            f"cannot reach the S3 endpoint {settings.s3_endpoint_url or 'AWS'} "
            f"for bucket {bucket}: {exc}"
        ) from None


def _s3_credentials(settings: Settings) -> dict[str, str]:
    if settings.aws_access_key_id and settings.aws_secret_access_key:
        return {
            "aws_access_key_id": settings.aws_access_key_id.get_secret_value(),
            "aws_secret_access_key": settings.aws_secret_access_key.get_secret_value(),
        }
    return {}


def _started(settings: Settings) -> dict[str, object]:
    path = settings.home / "started.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _record(settings: Settings, started: dict[str, object]) -> None:
    (settings.home / "started.json").write_text(json.dumps(started, indent=2))


def start_mlflow(settings: Settings) -> int | None:
    """Start the MLflow server unless one answers already; returns the pid it started."""
    if _answers(f"{settings.tracking_uri}/health"):
        return None
    ensure_bucket(settings)
    log = settings.logs_dir / "mlflow.log"
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
    with log.open("ab") as out:
        process = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    # A first start on an empty PostgreSQL runs all of MLflow's schema migrations.
    _wait(f"{settings.tracking_uri}/health", "MLflow", log, seconds=180, process=process)
    return process.pid


def start_ray(settings: Settings) -> str | None:
    """Start the Ray head unless its dashboard answers already; returns its temp dir."""
    if _answers(settings.ray_dashboard_url):
        return None
    ensure_ray_token()
    temp_dir = ray_temp_dir(settings)
    log = settings.logs_dir / "ray-start.log"
    cmd = [
        str(BIN / "ray"),
        "start",
        "--head",
        "--port",
        str(settings.ray_gcs_port),
        "--node-ip-address",
        settings.ray_node_ip_address,
        "--num-cpus",
        str(settings.ray_num_cpus),
        "--object-store-memory",
        str(settings.ray_object_store_bytes),
        "--dashboard-host",
        "127.0.0.1",
        "--dashboard-port",
        str(settings.ray_dashboard_port),
        "--dashboard-agent-listen-port",
        str(settings.ray_agent_port),
        "--ray-client-server-port",
        str(settings.ray_client_port),
        "--temp-dir",
        str(temp_dir),
        "--disable-usage-stats",
    ]
    with log.open("ab") as out:
        result = subprocess.run(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=ray_env(settings), check=False
        )
    if result.returncode != 0:
        raise SystemExit(f"ray start failed (exit {result.returncode}); see {log}")
    _wait(settings.ray_dashboard_url, "the Ray dashboard", log)
    # Jobs are accepted once the head's dashboard agent is up, a few seconds later.
    _wait(
        f"http://127.0.0.1:{settings.ray_agent_port}/api/local_raylet_healthz",
        "the Ray dashboard agent",
        log,
    )
    return str(temp_dir)


def up(settings: Settings) -> None:
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    ensure_api_keys(settings)
    started = _started(settings)
    pid = start_mlflow(settings)
    if pid is not None:
        started["mlflow_pid"] = pid
        _record(settings, started)  # before Ray, so `down` can stop it if Ray fails to start
    temp_dir = start_ray(settings)
    if temp_dir is not None:
        started["ray_temp_dir"] = temp_dir
        _record(settings, started)
    write_env_file(settings)
    print(status_text(settings))


def up_mlflow(settings: Settings) -> None:
    """Only the MLflow server, for a cluster head whose Ray `ray up cluster.yaml` starts."""
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    started = _started(settings)
    pid = start_mlflow(settings)
    if pid is not None:
        started["mlflow_pid"] = pid
        _record(settings, started)
    print(f"MLflow at {settings.tracking_uri}")


def _pids_using(*markers: str) -> list[int]:
    """Processes whose command line contains any of `markers` (one pass over /proc)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(marker in cmdline for marker in markers):
            pids.append(int(proc.name))
    return pids


def _head_markers(temp_dir: str, gcs_address: str | None) -> list[str]:
    """What names a head's processes: its temp dir, or only its GCS address (Ray's client
    server, which `ray start` leaves to init)."""
    return [temp_dir] + ([f"--address={gcs_address} "] if gcs_address else [])


def _terminate(pids: list[int], seconds: float = 15) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in pids):
        time.sleep(0.2)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _with_descendants(pids: list[int]) -> list[int]:
    """`pids` and every process below them (dashboard modules do not name the temp dir)."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(proc.name))
    found, queue = set(pids), list(pids)
    while queue:
        for child in children.get(queue.pop(), []):
            if child not in found:
                found.add(child)
                queue.append(child)
    return sorted(found)


def stack_pids(settings: Settings) -> list[int]:
    """Every process this checkout's `up` started and that still runs, with their children."""
    started = _started(settings)
    roots = [int(str(started["mlflow_pid"]))] if "mlflow_pid" in started else []
    if "ray_temp_dir" in started:
        roots += _pids_using(*_head_markers(str(started["ray_temp_dir"]), settings.ray_gcs_address))
    return [pid for pid in _with_descendants(roots) if Path(f"/proc/{pid}").exists()]


def listening(settings: Settings) -> list[dict[str, object]]:
    """The TCP sockets the stack's processes listen on: address, port, process name, pid."""
    pids = set(stack_pids(settings))
    output = subprocess.run(
        ["ss", "-ltnpH"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    rows: list[dict[str, object]] = []
    for line in output.splitlines():
        owners = [(name, int(pid)) for name, pid in re.findall(r'\("([^"]+)",pid=(\d+)', line)]
        mine = [owner for owner in owners if owner[1] in pids]
        if mine:
            address, _, port = line.split()[3].rpartition(":")
            address = address.strip("[]").removeprefix("::ffff:")
            rows.append({"address": address, "port": int(port), "process": mine[0][0],
                         "pid": mine[0][1]})  # fmt: skip
    return rows


def stop_ray(temp_dir: str, gcs_address: str | None = None) -> None:
    """Stop the Ray processes of this head, nothing else."""
    _terminate(_with_descendants(_pids_using(*_head_markers(temp_dir, gcs_address))))
    # Workers of that head exit with their raylet; sweep any that outlived it.
    _terminate(_with_descendants(_pids_using(temp_dir)), seconds=5)


def down(settings: Settings) -> None:
    started = _started(settings)
    if "ray_temp_dir" in started:
        stop_ray(str(started["ray_temp_dir"]), settings.ray_gcs_address)
        print("stopped the Ray head")
    if "mlflow_pid" in started:
        pid = int(str(started["mlflow_pid"]))
        try:
            os.killpg(pid, signal.SIGTERM)
            _terminate([pid], seconds=10)
        except ProcessLookupError:
            pass
        print("stopped the MLflow server")
    if not started:
        print("nothing to stop: this checkout's `make up` started nothing that is running")
    _record(settings, {})


def status_text(settings: Settings) -> str:
    def line(name: str, url: str, probe: str) -> str:
        return f"{name:<17}{url:<28}({'up' if _answers(probe) else 'down'})"

    return "\n".join(
        [
            line("Web UI + API", f"{settings.serve_url}/", f"{settings.serve_url}/health"),
            line("Ray dashboard", settings.ray_dashboard_url, settings.ray_dashboard_url),
            line("MLflow UI", settings.tracking_uri, f"{settings.tracking_uri}/health"),
            f"{'API keys':<17}{settings.keys_file}",
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


def wait_ready(settings: Settings, seconds: float = 180) -> None:
    """Wait until the Serve ingress says every served model is loaded."""
    url = f"{settings.serve_url}/ready"
    deadline = time.monotonic() + seconds
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    print(f"Serve is ready: {response.read().decode()}")
                    return
        except urllib.error.HTTPError as exc:
            last = exc.read().decode(errors="replace")
        except OSError as exc:
            last = str(exc)
        time.sleep(2)
    raise SystemExit(
        f"{url} not ready after {seconds:.0f}s: {last}\n"
        "see `serve status` and the Ray dashboard's Serve tab"
    )


def try_prediction(settings: Settings, model: str) -> None:
    """One real prediction with the model's own input example, printed."""
    key = admin_key(settings)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def call(path: str, body: bytes | None = None) -> object:
        request = urllib.request.Request(  # noqa: S310 - the configured loopback ingress
            settings.serve_url + path, data=body, headers=headers
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            return json.loads(response.read())

    schema = call(f"/v1/models/{model}/schema")
    example = schema["input_example"]  # type: ignore[index]
    body = json.dumps({"instances": [example], "return_proba": True}).encode()
    print(f"POST {settings.serve_url}/v1/models/{model}/predict")
    print(json.dumps(call(f"/v1/models/{model}/predict", body)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rayline.stack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "command", choices=["up", "mlflow", "down", "status", "admin-key", "wait-ready", "try"]
    )
    parser.add_argument(
        "model", nargs="?", default="breast_cancer", help="model for `try` (default: breast_cancer)"
    )
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.command == "up":
        up(settings)
    elif args.command == "mlflow":
        up_mlflow(settings)
    elif args.command == "down":
        down(settings)
    elif args.command == "wait-ready":
        wait_ready(settings)
    elif args.command == "try":
        try_prediction(settings, args.model)
    elif args.command == "admin-key":
        key = admin_key(settings)
        if key is None:
            where = "RAYLINE_API_KEYS" if settings.api_keys is not None else settings.keys_file
            print(f"no admin key in {where}: add `admin:<key>` or run `make up`", file=sys.stderr)
            return 1
        print(key)
    else:
        print(status_text(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
