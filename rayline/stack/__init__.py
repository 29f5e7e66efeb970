"""The local stack: a Ray head and an MLflow server on this machine (`python -m rayline.stack`).

`services` starts and stops them, `supervisor` knows what was started and still runs,
`ray_env` is how Ray is started, `s3` the artifact bucket, `smoke` the HTTP checks behind
`wait-ready` and `try`, `cli` the command line; `profiles` is the one table of the fixed ports of
every stack that runs on this machine and `harness` runs one more of them (a `LocalStack`) next
to the others. Scripts and tests call the names below.
"""

from rayline.keys import admin_key
from rayline.stack.cli import main
from rayline.stack.harness import LocalStack, StackError
from rayline.stack.profiles import PROFILES, PortProfile, PortsInUse, profile
from rayline.stack.ray_env import (
    AWS_SECRET_VARS,
    SERVE_PORT_BLOCK,
    ensure_ray_token,
    ray_env,
    ray_start_args,
    ray_temp_dir,
    serve_ports,
)
from rayline.stack.s3 import ensure_bucket, s3_credentials
from rayline.stack.services import (
    down,
    ensure_api_keys,
    start_mlflow,
    start_ray,
    status_text,
    up,
    up_mlflow,
    write_env_file,
)
from rayline.stack.smoke import try_prediction, wait_ready
from rayline.stack.supervisor import (
    BIN,
    answers,
    free_ports,
    listening,
    read_started,
    record_started,
    stack_pids,
    stop_mlflow,
    stop_ray,
    wait_for,
)

_answers = answers  # the name bench/ and tests/integration probe a URL with

__all__ = [
    "AWS_SECRET_VARS",
    "BIN",
    "PROFILES",
    "SERVE_PORT_BLOCK",
    "LocalStack",
    "PortProfile",
    "PortsInUse",
    "StackError",
    "admin_key",
    "answers",
    "down",
    "ensure_api_keys",
    "ensure_bucket",
    "ensure_ray_token",
    "free_ports",
    "listening",
    "main",
    "profile",
    "ray_env",
    "ray_start_args",
    "ray_temp_dir",
    "read_started",
    "record_started",
    "s3_credentials",
    "serve_ports",
    "stack_pids",
    "start_mlflow",
    "start_ray",
    "status_text",
    "stop_mlflow",
    "stop_ray",
    "try_prediction",
    "up",
    "up_mlflow",
    "wait_for",
    "wait_ready",
    "write_env_file",
]
