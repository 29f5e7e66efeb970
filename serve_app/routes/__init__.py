"""The ingress's routes, one module per protocol or concern.

`ENDPOINTS` is every module's table in a fixed order (the order of /openapi.json's paths);
a new module adds one line here. `PLAIN` routes come after them, outside the request wrapper.
"""

from __future__ import annotations

from serve_app.http.endpoint import Endpoint
from serve_app.routes import (
    audit,
    mlflow,
    monitoring,
    platform,
    predict,
    registry,
    schedules,
    static,
    v2,
)

ENDPOINTS: tuple[Endpoint, ...] = (
    *predict.ENDPOINTS,
    *mlflow.ENDPOINTS,
    *v2.ENDPOINTS,
    *registry.ENDPOINTS,
    *monitoring.ENDPOINTS,
    *platform.ENDPOINTS,
    *schedules.ENDPOINTS,
    *audit.ENDPOINTS,
)
PLAIN: tuple[Endpoint, ...] = static.PLAIN
"""Served as they are: no auth, limits or counting, and not in the OpenAPI document."""
