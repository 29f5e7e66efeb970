"""Settings and local-stack helpers that need no running servers."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from rayline import stack
from rayline.settings import Settings
from serve_app.openapi import openapi_document
from serve_app.routes import ENDPOINTS


def test_embedded_defaults_are_loopback_and_local(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert settings.tracking_uri == "http://127.0.0.1:5050"
    assert settings.backend_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert settings.artifacts_destination == str(tmp_path / "artifacts")
    assert settings.ray_gcs_port != 6379


def test_production_mode_needs_explicit_stores_and_keys() -> None:
    with pytest.raises(ValidationError, match="RAYLINE_MLFLOW_BACKEND_URI"):
        Settings(mode="production")


def test_storage_env_carries_s3_settings_without_logging_them() -> None:
    settings = Settings(
        s3_endpoint_url="http://127.0.0.1:8333",
        aws_access_key_id="id",
        aws_secret_access_key="s3cr3t-value",
    )
    assert settings.storage_env["MLFLOW_S3_ENDPOINT_URL"] == "http://127.0.0.1:8333"
    assert settings.storage_env["AWS_SECRET_ACCESS_KEY"] == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(settings)


def test_long_homes_get_a_short_ray_temp_dir(tmp_path: Path) -> None:
    short = Settings(home=Path("/srv/r"))
    assert stack.ray_temp_dir(short) == Path("/srv/r/ray")
    long = Settings(home=tmp_path / ("x" * 60))
    assert len(str(stack.ray_temp_dir(long))) < 30


def test_openapi_marks_roles_and_bodies() -> None:
    doc = openapi_document(ENDPOINTS)
    predict = doc["paths"]["/v1/models/{name}/predict"]["post"]
    assert predict["x-role"] == "predict" and "text/csv" in predict["requestBody"]["content"]
    assert "security" not in doc["paths"]["/health"]["get"]
    assert doc["paths"]["/v1/jobs"]["post"]["x-role"] == "admin"
    assert "PredictRequest" in doc["components"]["schemas"]
