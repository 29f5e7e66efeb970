"""The Serve application's pydantic schemas: builder args, the Predictor's user_config and the
request bodies refuse unknown keys and out-of-range values."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from rayline.settings import PROJECT_ROOT
from serve_app.schemas import (
    AppArgs,
    IngressConfig,
    MlflowRequest,
    PredictorConfig,
    PredictRequest,
    V2Request,
)


def test_request_models_forbid_unknown_keys_and_app_args_validate() -> None:
    with pytest.raises(ValidationError):
        PredictRequest.model_validate({"instances": [[1]], "extra": 1})
    with pytest.raises(ValidationError):
        MlflowRequest.model_validate({"instances": [[1]], "columns": ["a"]})
    with pytest.raises(ValidationError):
        V2Request.model_validate({"inputs": []})
    args = AppArgs.model_validate({"models": [{"name": "iris"}]})
    assert args.default_model.model_id == "iris@champion"
    with pytest.raises(ValidationError):
        AppArgs.model_validate({"models": []})


def test_ingress_config_defaults_and_serve_config_values() -> None:
    assert IngressConfig() == IngressConfig.from_user_config({})
    assert IngressConfig().predictor == PredictorConfig()
    config = IngressConfig.from_user_config(
        {"predictor": {"poll_interval_s": 5, "max_batch_size": 32, "batch_wait_timeout_s": 0.002}}
    ).predictor
    assert (config.poll_interval_s, config.max_batch_size, config.batch_wait_timeout_s) == (
        5.0,
        32,
        0.002,
    )


def test_the_shipped_serve_config_ingress_user_config_validates() -> None:
    config = yaml.safe_load((PROJECT_ROOT / "serve_config.yaml").read_text())
    deployments = config["applications"][0]["deployments"]
    assert "Predictor" not in {d["name"] for d in deployments}  # it lives in the Ingress
    ingress = next(d for d in deployments if d["name"] == "Ingress")
    assert IngressConfig.from_user_config(ingress["user_config"]).predictor.max_batch_size >= 1


@pytest.mark.parametrize(
    ("user_config", "message"),
    [
        (
            {"predictor": {"poll_interval": 5}},
            "unknown key 'predictor.poll_interval' (allowed: poll_interval_s, max_batch_size, "
            "batch_wait_timeout_s)",
        ),
        ({"predictor_": {}}, "unknown key 'predictor_' (allowed: predictor)"),
        (
            {"predictor": {"poll_interval_s": 0}},
            "'predictor.poll_interval_s': Input should be greater than 0",
        ),
        (
            {"predictor": {"batch_wait_timeout_s": -1}},
            "'predictor.batch_wait_timeout_s': Input should be greater than",
        ),
        (
            {"predictor": {"max_batch_size": 2.5}},
            "'predictor.max_batch_size': Input should be a valid integer",
        ),
    ],
)
def test_ingress_config_errors_name_the_key_and_the_file(
    user_config: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        IngressConfig.from_user_config(user_config)
    text = str(caught.value)
    assert text.startswith("serve_config.yaml, deployment Ingress, user_config: ")
    assert message in text
