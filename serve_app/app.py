"""The typed application builder that `serve deploy serve_config.yaml` imports.

    import_path: serve_app.app:build_app

`args` are validated as `AppArgs`; deployment options (replicas, autoscaling, user_config)
come from the deployments section of serve_config.yaml.
"""

from __future__ import annotations

from typing import Any

from ray.serve import Application

from serve_app.ingress import Ingress
from serve_app.metrics import Metrics
from serve_app.schemas import AppArgs


def build_app(args: dict[str, Any]) -> Application:
    """Ingress (which holds the predictor) + Metrics (which runs the scheduler), configured by
    validated builder args."""
    validated = AppArgs.model_validate(args)
    schedules = [s.model_dump(mode="json") for s in validated.schedules]
    # One monitoring config per model name: the first entry of a name serving it wins.
    monitoring: dict[str, Any] = {}
    for model in validated.models:
        monitoring.setdefault(model.name, model.monitoring.model_dump(mode="json"))
    # The decorators turn these classes into Serve deployments, which mypy cannot see.
    metrics = Metrics.bind(monitoring, schedules, validated.scheduler_tick_s)  # type: ignore[attr-defined]
    app: Application = Ingress.bind(metrics, validated.model_dump(mode="json"))  # type: ignore[attr-defined]
    return app
