"""Ray's HTTP API as a client of the cluster: the auth token and the dashboard's JSON endpoints;
and what Ray Jobs tells the driver it starts (its submission id and metadata).

Plain urllib, so the Serve app, the bench and the tests call the dashboard the same way without
importing Ray.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import Any

from rayline.settings import Settings


def ray_token() -> str | None:
    """The cluster's auth token: `RAY_AUTH_TOKEN`, else the file Ray reads (None if neither)."""
    token = os.environ.get("RAY_AUTH_TOKEN")
    if token:
        return token
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", Path.home() / ".ray" / "auth_token"))
    return path.read_text().strip() if path.exists() else None


def dashboard_get(settings: Settings, path: str, timeout: float = 5.0) -> Any:
    """GET a Ray dashboard API path with the cluster's token."""
    request = urllib.request.Request(settings.ray_dashboard_url + path)  # noqa: S310 - loopback
    token = ray_token()
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return json.loads(response.read())


def job_metadata() -> dict[str, str]:
    """The metadata Ray Jobs gave this driver (empty outside `ray job submit`); the submission
    id is under `job_submission_id`."""
    config = json.loads(os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR", "{}"))
    return {str(k): str(v) for k, v in config.get("metadata", {}).items()}


def submission_id() -> str:
    """The Ray Jobs submission id of this driver ("" when run outside `ray job submit`)."""
    return job_metadata().get("job_submission_id", "")
