"""Production settings without servers: the PostgreSQL driver, what Ray processes inherit
(S3 keys only under RAYLINE_* names), the GCS Redis namespace and Ray's socket paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from rayline import stack
from rayline.settings import Settings

SECRET = "s3cr3t-for-unit-tests"
PRODUCTION_STORES = {
    "RAYLINE_MODE": "production",
    "RAYLINE_MLFLOW_BACKEND_URI": "postgresql://mlflow@db:5432/mlflow",
    "RAYLINE_MLFLOW_ARTIFACTS_DESTINATION": "s3://bucket/mlflow",
    "RAYLINE_API_KEYS": "admin:k1,predict:k2",
}


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://u@db:5432/mlflow", "postgresql+psycopg2://u@db:5432/mlflow"),
        ("postgres://u@db/mlflow", "postgresql+psycopg2://u@db/mlflow"),
        ("postgresql+psycopg://u@db/mlflow", "postgresql+psycopg://u@db/mlflow"),
        ("mysql+pymysql://u@db/mlflow", "mysql+pymysql://u@db/mlflow"),
    ],
)
def test_backend_uri_names_the_installed_postgres_driver(given: str, used: str) -> None:
    assert Settings(mlflow_backend_uri=given).backend_uri == used


def test_production_refuses_to_keep_schedules_in_a_local_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no `.env` of the checkout
    for name, value in PRODUCTION_STORES.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as refused:
        Settings()
    message = str(refused.value)
    assert "RAYLINE_STATE_DATABASE_URI" in message
    assert "postgresql://user@host:5432/rayline" in message
    assert "RAYLINE_MLFLOW_BACKEND_URI" not in message  # only what is missing is named

    monkeypatch.setenv("RAYLINE_STATE_DATABASE_URI", "postgresql://rayline@db:5432/rayline")
    assert Settings().state_uri == "postgresql://rayline@db:5432/rayline"


def test_production_names_every_missing_store_at_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValidationError) as refused:
        Settings(mode="production")
    for name in ("MLFLOW_BACKEND_URI", "MLFLOW_ARTIFACTS_DESTINATION", "STATE_DATABASE_URI"):
        assert f"RAYLINE_{name}" in str(refused.value)


def test_embedded_state_is_a_sqlite_file_in_home(tmp_path: Path) -> None:
    assert Settings(home=tmp_path).state_uri == f"sqlite:///{tmp_path / 'state.db'}"


def test_ray_processes_get_s3_keys_only_under_rayline_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Ray Tune would copy AWS_* into every trial's runtime_env, which Ray logs in clear text.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "shell-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "shell-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "shell-token")
    settings = Settings(
        home=tmp_path,
        s3_endpoint_url="http://127.0.0.1:8333",
        aws_access_key_id="rl-id",
        aws_secret_access_key=SECRET,
    )
    env = stack.ray_env(settings)
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} & set(env)
    assert env["RAYLINE_AWS_ACCESS_KEY_ID"] == "rl-id"
    assert env["RAYLINE_AWS_SECRET_ACCESS_KEY"] == SECRET
    assert env["RAYLINE_S3_ENDPOINT_URL"] == env["MLFLOW_S3_ENDPOINT_URL"]
    # The MLflow server, not a Ray process, still gets the standard names.
    assert settings.storage_env["AWS_SECRET_ACCESS_KEY"] == SECRET


def test_settings_from_dotenv_reach_ray_processes_but_not_the_database_uri(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "RAYLINE_API_KEYS=admin:k1\nRAYLINE_EXPERIMENT=prod\n"
        "RAYLINE_MLFLOW_BACKEND_URI=postgresql://mlflow:pw@db/mlflow\n"
    )
    monkeypatch.setenv("RAYLINE_MLFLOW_BACKEND_URI", "postgresql://mlflow:pw@db/mlflow")
    env = stack.ray_env(Settings())
    assert env["RAYLINE_API_KEYS"] == "admin:k1" and env["RAYLINE_EXPERIMENT"] == "prod"
    assert not any("pw@db" in value for value in env.values())


def test_shell_aws_keys_reach_ray_processes_renamed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "shell-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "shell-secret")
    env = stack.ray_env(Settings(home=tmp_path))
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert env["RAYLINE_AWS_SECRET_ACCESS_KEY"] == "shell-secret"


def test_gcs_namespace_is_stable_per_home_and_port(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("RAY_external_storage_namespace", raising=False)
    assert "RAY_REDIS_ADDRESS" not in stack.ray_env(Settings(home=tmp_path))

    def namespace(home: Path, port: int = 6380) -> str:
        settings = Settings(home=home, ray_redis_address="127.0.0.1:6379", ray_gcs_port=port)
        env = stack.ray_env(settings)
        assert env["RAY_REDIS_ADDRESS"] == "127.0.0.1:6379"
        return env["RAY_external_storage_namespace"]

    # A restarted head finds its state again; another checkout or port never shares it.
    assert namespace(tmp_path) == namespace(tmp_path)
    assert len({namespace(tmp_path), namespace(tmp_path / "other"), namespace(tmp_path, 6381)}) == 3
    monkeypatch.setenv("RAY_external_storage_namespace", "explicit")
    assert namespace(tmp_path) == "explicit"


@pytest.mark.parametrize("home", ["/srv/r", "/tmp/pytest-of-root/pytest-12/home0", "/x" * 40])
def test_ray_socket_paths_fit_af_unix(home: str) -> None:
    temp_dir = stack.ray_temp_dir(Settings(home=Path(home)))
    # Ray's longest: <temp>/session_<date>_<time>_<usec>_<pid>/sockets/dash_<Module>.
    worst = f"{temp_dir}/session_2026-11-22_05-56-28_324458_4194304/sockets/dash_UsageStatsHead"
    assert len(worst.encode()) <= 107


def test_ray_stays_on_loopback_unless_given_the_machine_address(tmp_path: Path) -> None:
    env = stack.ray_env(Settings(home=tmp_path))
    assert env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0"  # Ray's single-machine mode
    joinable = Settings(home=tmp_path, ray_node_ip_address="10.0.0.5")
    assert "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER" not in stack.ray_env(joinable)
    assert joinable.ray_gcs_address == "10.0.0.5:6380"


def test_gcs_fault_tolerance_keeps_workers_waiting_for_the_gcs(tmp_path: Path) -> None:
    env = stack.ray_env(Settings(home=tmp_path, ray_redis_address="127.0.0.1:6379"))
    assert int(env["RAY_gcs_rpc_server_reconnect_timeout_s"]) >= 300
    assert env["RAY_SERVE_KV_TIMEOUT_S"] == "1"


@pytest.fixture
def production_without_mlflow_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every production setting but RAYLINE_MLFLOW_BACKEND_URI, as Ray's processes get them."""
    monkeypatch.chdir(tmp_path)
    stores = {k: v for k, v in PRODUCTION_STORES.items() if k != "RAYLINE_MLFLOW_BACKEND_URI"}
    for name, value in stores.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RAYLINE_STATE_DATABASE_URI", "postgresql://rayline@db:5432/rayline")


@pytest.mark.usefixtures("production_without_mlflow_database")
def test_jobs_and_replicas_need_no_mlflow_database_in_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ray's processes get the MLflow server's address, never its database URI (ray_env)."""
    with pytest.raises(ValidationError, match="RAYLINE_MLFLOW_BACKEND_URI"):
        Settings()  # the process that starts the MLflow server
    monkeypatch.setenv("RAYLINE_MLFLOW_TRACKING_URI", "http://10.0.0.5:5050")
    assert Settings().tracking_uri == "http://10.0.0.5:5050"  # a job or replica


@pytest.mark.usefixtures("production_without_mlflow_database")
def test_production_never_starts_mlflow_on_the_default_sqlite_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from rayline.stack.services import start_mlflow

    monkeypatch.setenv("RAYLINE_MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing answers
    with pytest.raises(SystemExit, match="set RAYLINE_MLFLOW_BACKEND_URI"):
        start_mlflow(Settings(home=tmp_path))


def test_a_containers_mlflow_server_listens_where_told_with_its_database_out_of_argv(
    tmp_path: Path,
) -> None:
    """`rayline-stack mlflow-server` (compose.yaml) runs this command in the foreground."""
    from rayline.stack.services import mlflow_command

    secret = "postgresql://rayline:s3cret@postgres:5432/mlflow_db"
    settings = Settings(
        home=tmp_path,
        mlflow_host="0.0.0.0",  # noqa: S104 - inside a container, published on loopback
        mlflow_backend_uri=secret,
        mlflow_artifacts_destination=str(tmp_path / "artifacts"),
    )
    cmd, env = mlflow_command(settings)
    assert cmd[1:2] == ["server"]
    assert cmd[cmd.index("--host") + 1] == settings.mlflow_host
    assert cmd[cmd.index("--port") + 1] == str(settings.mlflow_port)
    assert not [arg for arg in cmd if "s3cret" in arg]
    assert "s3cret" in settings.backend_uri
    assert env["MLFLOW_BACKEND_STORE_URI"] == settings.backend_uri  # the password is here only
    assert (tmp_path / "artifacts").is_dir()  # the local artifact store exists before it starts
