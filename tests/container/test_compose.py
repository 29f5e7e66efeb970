"""`make container-test`: the Dockerfile built and compose.yaml run for real, with Podman.

1. The bases, made here (no image registry is reachable): Debian bookworm by `mmdebstrap`
   (Python 3.11), that base with this machine's Node.js (Debian's is too old for the web build),
   and the two services compose.yaml takes from a registry: Debian's PostgreSQL and SeaweedFS in
   MinIO's place (tests/container/compose.here.yaml says which).
2. `make image` on those bases: the wheelhouse, then the Dockerfile's three stages.
3. compose.yaml up, in dependency order (Podman 4.3 ignores compose's health conditions) with
   one Ray worker beside the head; a real `ray job submit` of the breast_cancer training to the
   published dashboard; the `deploy` service's `serve deploy`; a prediction through the published
   ingress; two Ray nodes alive.
4. `down -v`: no container, volume or listener of the project is left.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from rayline.settings import PROJECT_ROOT
from rayline.stack.supervisor import BIN, free_ports
from tests.waiting import NotYet, wait_until

HERE = Path(__file__).resolve().parent
PROJECT = "rayline-ctest"
IMAGE = "localhost/rayline:0.1.0"
BASE = "localhost/rayline-base"
NODE_BASE = "localhost/rayline-node"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
ENV = {**os.environ, "CONTAINERS_CONF": str(HERE / "containers.conf")}


def podman(*args: str, timeout: float = 600, check: bool = True) -> str:
    result = subprocess.run(
        ["podman", *args], env=ENV, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)}: {result.returncode}\n{result.stderr}")
    return result.stdout


def has_image(name: str) -> bool:
    return bool(podman("images", "-q", name).strip())


def build(tag: str, containerfile: str, files: dict[str, Path], context: Path) -> None:
    """`podman build` of tests/container/<containerfile> with `files` in its context."""
    context.mkdir(parents=True)
    shutil.copy(HERE / containerfile, context / "Containerfile")
    for name, source in files.items():
        if source.is_dir():
            shutil.copytree(source, context / name)
        else:
            shutil.copy(source, context / name)
    podman("build", "-q", "-t", tag, str(context))


def make_bases(work: Path) -> None:
    """The local bases. The Debian root file system from mmdebstrap only when missing (it
    stays between runs; `podman rmi` to remake it); the images built on it every time, so
    that an edit to a Containerfile or an entrypoint is picked up (Podman's layer cache makes
    an unchanged rebuild a matter of seconds)."""
    if not has_image(BASE):
        tar = work / "base.tar"
        subprocess.run(
            ["mmdebstrap", "--quiet", "--variant=apt",
             "--include=python3.11,python3.11-venv,ca-certificates", "bookworm", str(tar)],
            check=True, timeout=600,
        )  # fmt: skip
        podman("import", str(tar), BASE)
    node = Path(shutil.which("node") or "/usr/bin/node").resolve()
    npm = node.parent.parent / "lib" / "node_modules" / "npm"
    build(NODE_BASE, "node.Containerfile", {"node": node, "npm": npm}, work / "node")
    files = {"postgres-entrypoint.sh": HERE / "postgres-entrypoint.sh"}
    build("localhost/rayline-test-postgres", "postgres.Containerfile", files, work / "pg")
    files = {"weed": BIN / "weed", "s3-entrypoint.sh": HERE / "s3-entrypoint.sh"}
    build("localhost/rayline-test-s3", "s3.Containerfile", files, work / "s3")


def make_image() -> None:
    args = [f"BASE={BASE}", f"NODE_BASE={NODE_BASE}", "ENGINE=podman", f"IMAGE={IMAGE}"]
    if CA_BUNDLE.exists():  # this machine's TLS proxy signs with a CA of this bundle
        args.append(f"CA={CA_BUNDLE}")
    subprocess.run(
        ["make", "-s", "--no-print-directory", "image", *args],
        cwd=PROJECT_ROOT, env=ENV, check=True, timeout=1200,
    )  # fmt: skip


class Compose:
    """podman-compose on compose.yaml + compose.here.yaml, with an env file of fresh secrets
    and free published ports."""

    def __init__(self, work: Path) -> None:
        serve, grpc, dashboard, mlflow = free_ports(4)
        self.ports = {"serve": serve, "grpc": grpc, "dashboard": dashboard, "mlflow": mlflow}
        self.token = secrets.token_hex(32)
        self.admin_key = f"rl_{secrets.token_urlsafe(24)}"
        values = {
            "RAY_AUTH_TOKEN": self.token,
            "RAYLINE_API_KEYS": f"admin:{self.admin_key},predict:rl_{secrets.token_urlsafe(24)}",
            "POSTGRES_PASSWORD": secrets.token_hex(12),
            "S3_ACCESS_KEY": "rayline",
            "S3_SECRET_KEY": secrets.token_hex(16),
            "RAYLINE_IMAGE": IMAGE,
            "RAY_HEAD_CPUS": "2",
            "RAY_WORKER_CPUS": "1",
            "PUBLISH_HOST": "127.0.0.1",
            "PUBLISH_SERVE_PORT": str(serve),
            "PUBLISH_GRPC_PORT": str(grpc),
            "PUBLISH_DASHBOARD_PORT": str(dashboard),
            "PUBLISH_MLFLOW_PORT": str(mlflow),
        }
        self.env_file = work / "compose.env"
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        self.env_file.chmod(0o600)

    def __call__(self, *args: str, timeout: float = 300) -> str:
        cmd = [
            str(BIN / "podman-compose"), "--env-file", str(self.env_file), "-p", PROJECT,
            "-f", str(PROJECT_ROOT / "compose.yaml"), "-f", str(HERE / "compose.here.yaml"),
            *args,
        ]  # fmt: skip
        env = {**ENV, "RAYLINE_ENV_FILE": str(self.env_file)}
        result = subprocess.run(
            cmd, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
        if result.returncode != 0:
            raise AssertionError(f"podman-compose {' '.join(args)}:\n{result.stderr[-3000:]}")
        return result.stdout

    def container(self, service: str) -> str:
        return f"{PROJECT}_{service}_1"

    def url(self, port: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[port]}{path}"


def project_leftovers() -> list[str]:
    label = f"label=io.podman.compose.project={PROJECT}"
    containers = podman("ps", "-a", "-q", "--filter", label).split()
    volumes = podman("volume", "ls", "-q", "--filter", label).split()
    return containers + volumes


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def http(url: str, key: str | None = None, body: object = None) -> tuple[int, object]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
            is_json = response.headers.get_content_type() == "application/json"
            return response.status, json.loads(text) if is_json else text
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Compose]:
    work = tmp_path_factory.mktemp("container")
    make_bases(work)
    make_image()
    stack = Compose(work)
    if project_leftovers():  # an earlier run that did not end
        stack("down", "-v")
    try:
        yield stack
    finally:
        stack("down", "-v", timeout=300)


def test_compose_stack_trains_deploys_and_predicts(compose: Compose) -> None:
    # 1. the stores and MLflow (its bucket made by `rayline-stack mlflow-server`)
    compose("up", "-d", "postgres", "s3")
    compose("up", "-d", "mlflow")
    wait_until(
        lambda: http(compose.url("mlflow", "/health"))[0] == 200,
        180, "MLflow on the published port", ignoring=(OSError,),
    )  # fmt: skip

    # 2. the Ray head (Serve listening on the container's interfaces), then a worker
    compose("up", "-d", "ray-head")
    head = compose.container("ray-head")
    wait_until(
        lambda: podman("exec", head, "test", "-f", "/tmp/serve-started") == "",
        240, "the Ray head and Serve", ignoring=(AssertionError,),
    )  # fmt: skip
    compose("up", "-d", "ray-worker")

    # 3. training: a real `ray job submit` to the published dashboard (the image has the code)
    job = subprocess.run(
        [str(BIN / "ray"), "job", "submit", "--address", compose.url("dashboard", ""),
         "--", "python", "-m", "jobs.train", "breast_cancer"],
        env={**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": compose.token},
        capture_output=True, text=True, timeout=1200, check=False,
    )  # fmt: skip
    assert job.returncode == 0, (job.stdout + job.stderr)[-4000:]
    assert "succeeded" in job.stdout, job.stdout[-2000:]

    # 4. the one-shot deploy: `serve deploy serve_config.yaml` against the head's dashboard
    compose("up", "-d", "deploy")
    deploy = compose.container("deploy")

    def deployed() -> bool:
        state = podman("inspect", deploy, "--format", "{{.State.Status}} {{.State.ExitCode}}")
        if state.split()[0] == "exited" and state.split()[1] != "0":
            raise NotYet(f"deploy exited: {state.strip()}; {podman('logs', deploy)[-500:]}")
        return state.strip() == "exited 0"

    wait_until(deployed, 180, "the deploy service to finish", ignoring=(AssertionError,))

    # 5. a prediction through the published ingress, with the key from the env file
    def ready() -> bool:
        status = podman("exec", head, "serve", "status")
        if "DEPLOY_FAILED" in status:
            raise AssertionError(f"the Serve app failed to deploy:\n{status[-3000:]}")
        return http(compose.url("serve", "/ready"))[0] == 200

    wait_until(ready, 300, "/ready on the published ingress", interval=3, ignoring=(OSError,))
    model = compose.url("serve", "/v1/models/breast_cancer")
    status, schema = http(f"{model}/schema", compose.admin_key)
    assert status == 200, schema
    assert isinstance(schema, dict)
    body = {"instances": [schema["input_example"]]}
    status, answer = http(f"{model}/predict", compose.admin_key, body)
    assert status == 200, answer
    assert isinstance(answer, dict)
    assert answer["model"] == "breast_cancer"
    assert answer["predictions"] in ([0], [1])
    assert http(compose.url("serve", "/v1/models"))[0] == 401  # auth on by default

    # 6. the worker joined: two Ray nodes alive
    count = (
        "import ray; ray.init(logging_level='ERROR'); print(sum(n['Alive'] for n in ray.nodes()))"
    )
    assert podman("exec", head, "python", "-c", count).strip() == "2"

    # 7. down -v leaves nothing behind
    compose("down", "-v")
    assert project_leftovers() == []
    assert [p for p in compose.ports.values() if listening(p)] == []
