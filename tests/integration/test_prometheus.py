"""The shipped Prometheus config (deploy/prometheus/prometheus.yml) against the session stack,
with Debian's real `prometheus`: it scrapes Rayline's /metrics with a predict key and finds the
Ray head's nodes through Ray's service-discovery file, and sees a model's inputs drift."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from sklearn.datasets import load_iris

from rayline.settings import PROJECT_ROOT
from rayline.stack.supervisor import free_ports
from tests.stack import Stack
from tests.waiting import NotYet, wait_until

pytestmark = pytest.mark.integration

DEPLOY = PROJECT_ROOT / "deploy" / "prometheus"
COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
SHIFTED = ("petal length (cm)", "petal width (cm)")
UNREACHABLE = (urllib.error.URLError, ConnectionError, TimeoutError)


@dataclass
class Prometheus:
    """A running Prometheus' HTTP API."""

    url: str

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant vector `promql` evaluates to now."""
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def targets(self, job: str) -> list[dict[str, Any]]:
        """The job's active targets with their health and last scrape error."""
        with urllib.request.urlopen(f"{self.url}/api/v1/targets", timeout=10) as response:
            active: list[dict[str, Any]] = json.load(response)["data"]["activeTargets"]
        return [t for t in active if t["labels"].get("job") == job]


def render_config(stack: Stack, folder: Path) -> Path:
    """The shipped config for `stack`: its ingress, its predict key, its Ray head's discovery
    file and a 1 s scrape interval; every other line as shipped, next to the shipped rules."""
    config: dict[str, Any] = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = "1s"
    config["global"]["evaluation_interval"] = "1s"
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    (static,) = jobs["rayline"]["static_configs"]
    static["targets"] = [urllib.parse.urlsplit(stack.url).netloc]
    # The key file and the session link are where `make up` put them in the stack's home.
    shipped_home = Path(os.path.normpath(DEPLOY / "../../.rayline"))
    key_file = Path(os.path.normpath(DEPLOY / jobs["rayline"]["authorization"]["credentials_file"]))
    jobs["rayline"]["authorization"]["credentials_file"] = str(
        stack.home / key_file.relative_to(shipped_home)
    )
    (sd_config,) = jobs["ray"]["file_sd_configs"]
    (pattern,) = sd_config["files"]
    discovery = Path(os.path.normpath(DEPLOY / pattern))
    sd_config["files"] = [str(stack.home / discovery.relative_to(shipped_home))]
    shutil.copy(DEPLOY / "alerts.yml", folder / "alerts.yml")
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def prometheus(serving: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail(
            "prometheus is not installed: `make prometheus` installs it "
            "(Debian: sudo apt-get install prometheus)"
        )
    folder = tmp_path_factory.mktemp("prometheus")
    config = render_config(serving, folder)
    (port,) = free_ports(1)
    log = folder / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--storage.tsdb.path={folder / 'data'}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    running = Prometheus(f"http://127.0.0.1:{port}")

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(
                f"prometheus exited ({process.returncode}):\n{log.read_text()[-3000:]}"
            )
        with urllib.request.urlopen(f"{running.url}/-/ready", timeout=5) as response:
            return bool(response.status == 200)

    try:
        wait_until(ready, 60, "Prometheus to be ready", ignoring=UNREACHABLE)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_up(prometheus: Prometheus, job: str) -> None:
    """Wait until Prometheus scrapes `job` successfully; a failure shows its scrape errors."""

    def up() -> list[dict[str, Any]]:
        found = prometheus.query(f'up{{job="{job}"}} == 1')
        if not found:
            raise NotYet(
                [(t["scrapeUrl"], t["health"], t["lastError"]) for t in prometheus.targets(job)]
            )
        return found

    wait_until(up, 90, f'up{{job="{job}"}} == 1', ignoring=UNREACHABLE)


def test_prometheus_scrapes_rayline_and_the_ray_nodes(
    prometheus: Prometheus, serving: Stack
) -> None:
    row = dict(zip(COLUMNS, [5.1, 3.5, 1.4, 0.2], strict=True))
    status, body, _ = serving.http(
        "POST", "/v1/models/iris_it/predict", {"instances": [row]}, key="predict"
    )
    assert status == 200, body
    wait_up(prometheus, "rayline")
    wait_up(prometheus, "ray")
    wait_until(
        lambda: prometheus.query('rayline_requests_total{model="iris_it",status="200"}'),
        60,
        "rayline_requests_total of iris_it in Prometheus",
        ignoring=UNREACHABLE,
    )
    wait_until(
        lambda: prometheus.query('count by (__name__) ({__name__=~"ray_.+", job="ray"})'),
        60,
        "a ray_* series of job ray in Prometheus",
        ignoring=UNREACHABLE,
    )


def test_prometheus_sees_two_shifted_features_drift(prometheus: Prometheus, serving: Stack) -> None:
    iris = load_iris(as_frame=True).frame.drop(columns="target")
    iris.columns = COLUMNS
    rows = iris.sample(600, replace=True, random_state=0)
    for feature in SHIFTED:
        rows[feature] += 2 * iris[feature].std()
    records = rows.to_dict("records")
    for start in range(0, len(records), 50):
        status, body, _ = serving.http(
            "POST",
            "/v1/models/iris_it/predict",
            {"instances": records[start : start + 50]},
            key="predict",
        )
        assert status == 200, body
    scores = wait_until(
        lambda: prometheus.query('rayline_feature_drift_score{model="iris_it"}'),
        120,
        "rayline_feature_drift_score of iris_it in Prometheus",
        ignoring=UNREACHABLE,
    )
    assert {r["metric"]["feature"] for r in scores} >= set(SHIFTED), scores
    for feature in SHIFTED:
        drifted = f'rayline_feature_drifted{{model="iris_it",feature="{feature}"}} == 1'
        wait_until(partial(prometheus.query, drifted), 120, drifted, ignoring=UNREACHABLE)
