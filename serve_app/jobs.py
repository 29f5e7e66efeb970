"""Ray Jobs as the ingress exposes them: submit training and benchmark jobs, list, follow, stop.

Training progress comes from the `@rayline` event lines the job prints (see
`rayline.training.emit`), so nothing but Ray's own job API is needed to follow a job.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

from rayline.config import CONFIG_DIR, ConfigError, load_config, parse_config
from rayline.settings import Settings
from rayline.training import parse_events
from serve_app.http.errors import HttpError
from serve_app.schemas import BenchmarkRequest, JobRequest

KIND_KEY = "rayline_kind"
_JOB_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")
NAME_KEY = "rayline_name"


def _job_name(entrypoint: str) -> str:
    """The config (or first argument) of a job submitted from the command line."""
    words = entrypoint.split()
    for index, word in enumerate(words):
        if word.startswith("jobs."):
            args = [w for w in words[index + 1 :] if not w.startswith("-")]
            return Path(args[0]).stem[:64] if args else word
    return entrypoint[:64]


def enum_text(value: Any) -> str:
    """A status Ray gives as an enum (jobs, Serve apps, deployments, replicas) as its text."""
    return str(value.value if hasattr(value, "value") else value)


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000.0


class Jobs:
    """Thin layer over Ray's `JobSubmissionClient` (token auth comes from the environment)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from ray.job_submission import JobSubmissionClient

            try:
                self._client = JobSubmissionClient(self.settings.ray_dashboard_url)
            except (ConnectionError, RuntimeError) as exc:
                raise HttpError(
                    503, f"the Ray Jobs API is not reachable: {exc}", retry_after=5
                ) from None
        return self._client

    def submit_train(
        self,
        request: JobRequest,
        submission_id: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> str:
        """Submit `python -m jobs.train` for a shipped config (name or path) or an inline spec.
        A given `submission_id` makes the submission idempotent: Ray refuses a second job with it.
        """
        if (request.config is None) == (request.spec is None):
            raise HttpError(422, "give exactly one of 'config' (a shipped config name) or 'spec'")
        if request.config is not None:
            try:
                config = load_config(request.config)
            except ConfigError as exc:
                raise HttpError(404, str(exc)) from None
            args = shlex.quote(request.config)
        else:
            try:
                config = parse_config(request.spec, "spec")
            except ConfigError as exc:
                raise HttpError(422, str(exc)) from None
            args = "--spec " + shlex.quote(json.dumps(config.model_dump(mode="json")))
        return str(
            self.client.submit_job(
                entrypoint=f"python -m jobs.train {args}",
                submission_id=submission_id,
                metadata={**(metadata or {}), KIND_KEY: "train", NAME_KEY: config.name},
            )
        )

    def submit_benchmark(self, request: BenchmarkRequest) -> str:
        options = request.model_dump(exclude_none=True)
        kind = options.pop("kind")
        args = " ".join(
            f"--{k.replace('_', '-')} {shlex.quote(str(v))}" for k, v in sorted(options.items())
        )
        return str(
            self.client.submit_job(
                entrypoint=f"python -m jobs.benchmark {kind} {args}",
                metadata={KIND_KEY: "benchmark", NAME_KEY: kind},
            )
        )

    def summary(self, job: Any) -> dict[str, Any]:
        metadata = job.metadata or {}
        entrypoint = job.entrypoint or ""
        kind = metadata.get(KIND_KEY)
        if kind is None:
            kind = next(
                (k for k in ("train", "batch_predict", "benchmark") if f"jobs.{k}" in entrypoint),
                "other",
            )
        return {
            "job_id": job.submission_id or job.job_id,
            "status": enum_text(job.status),
            "kind": kind,
            "name": metadata.get(NAME_KEY, _job_name(entrypoint)),
            "entrypoint": entrypoint[:300],
            "start_time": _seconds(job.start_time),
            "end_time": _seconds(job.end_time),
            "message": job.message or "",
        }

    def list(self, limit: int = 100) -> list[dict[str, Any]]:
        jobs = [self.summary(j) for j in self.client.list_jobs() if j.submission_id]
        jobs.sort(key=lambda j: j["start_time"] or 0, reverse=True)
        return jobs[:limit]

    def _details(self, job_id: str) -> Any:
        # Ray's SDK puts the id into its REST path unquoted: "?x", "#x" or ".." would name
        # the list of jobs instead of one.
        if not _JOB_ID.fullmatch(job_id) or not job_id.strip("."):
            raise HttpError(404, "no such job")
        try:
            return self.client.get_job_info(job_id)
        except RuntimeError:
            raise HttpError(404, f"no job {job_id}") from None

    def detail(self, job_id: str) -> dict[str, Any]:
        summary = self.summary(self._details(job_id))
        events = parse_events(self.client.get_job_logs(job_id))
        run = events["run"]
        summary.update(
            progress=events["progress"],
            trials=events["trials"],
            mlflow_run_url=run["url"] if run else None,
            result=events["result"],
        )
        return summary

    def logs(self, job_id: str, tail: int) -> str:
        self._details(job_id)
        lines = str(self.client.get_job_logs(job_id)).splitlines()
        return "\n".join(lines[-tail:])

    def stop(self, job_id: str) -> bool:
        self._details(job_id)
        return bool(self.client.stop_job(job_id))


TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


def reap_orphaned_runs(jobs: Jobs, tracking_uri: str, experiment: str) -> list[str]:
    """Mark FAILED the MLflow runs still RUNNING whose Ray job has ended (a driver killed with
    SIGKILL never gets to end its run). Returns the run ids it marked."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    marked = []
    runs = client.search_runs(
        [found.experiment_id], "attributes.status = 'RUNNING'", max_results=200
    )
    for run in runs:
        job_id = run.data.tags.get("rayline.ray_job_id")
        if not job_id:
            continue
        try:
            status = enum_text(jobs.client.get_job_status(job_id))
        except RuntimeError:  # the job is unknown to Ray: its driver is gone
            status = "FAILED"
        if status in TERMINAL:
            client.set_terminated(run.info.run_id, "FAILED")
            marked.append(run.info.run_id)
    return marked


def shipped_configs() -> list[dict[str, Any]]:
    configs = []
    for path in sorted(CONFIG_DIR.glob("*.yaml")):
        config = load_config(path)
        configs.append(
            {"name": path.stem, "yaml": path.read_text(), "spec": config.model_dump(mode="json")}
        )
    return configs
