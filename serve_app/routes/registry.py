"""The model registry: models, versions with their metrics, aliases (promotion and rollback),
the input schema of a served version, and the caller's role."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from rayline.keys import Role
from rayline.registry import FAMILY_TAG, Registry
from serve_app.http.auth import identify
from serve_app.http.endpoint import Answer, Endpoint
from serve_app.http.errors import HttpError
from serve_app.http.params import requested_model
from serve_app.http.responses import JSONResponse
from serve_app.routes.predict import ModelRef, ModelSchema, status_of
from serve_app.schemas import AliasRequest

if TYPE_CHECKING:
    from serve_app.http.app import Context

log = logging.getLogger("ray.serve")


# --- the contract: response models -------------------------------------------------------
class WhoAmI(Answer):
    role: Role


class RegisteredModel(Answer):
    name: str
    description: str
    aliases: dict[str, str]
    """Alias → the version it points at."""
    latest_version: str | None
    updated_at: float


class RegisteredModels(Answer):
    models: list[RegisteredModel]


class ModelVersion(Answer):
    version: str
    created_at: float
    run_id: str | None
    aliases: list[str]
    metrics: dict[str, float]
    """The run's held-out test metrics, without their `test_` prefix."""
    family: str | None
    """The estimator family (or ensemble) of the version."""
    status: str
    """MLflow's registration status: READY, PENDING_REGISTRATION, FAILED_REGISTRATION."""


class ModelVersions(Answer):
    """Newest first."""

    versions: list[ModelVersion]


class AliasChange(Answer):
    name: str
    alias: str
    version: str
    previous_version: str | None
    """Where the alias pointed before; None for a new alias."""


async def _mlflow(fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)` off the event loop; 503 with Retry-After when MLflow does not answer."""
    from mlflow.exceptions import MlflowException

    try:
        return await asyncio.wait_for(asyncio.to_thread(fn, *args), timeout=15)
    except (MlflowException, OSError, TimeoutError):
        raise HttpError(503, "the MLflow registry is not reachable; retry shortly", 5) from None


def _models(registry: Registry) -> list[dict[str, Any]]:
    found = []
    for model in registry.client.search_registered_models(max_results=1000):
        versions = [int(v.version) for v in (model.latest_versions or [])]
        found.append(
            {
                "name": model.name,
                "description": model.description or "",
                "aliases": {a: str(v) for a, v in (model.aliases or {}).items()},
                "latest_version": str(max(versions)) if versions else None,
                "updated_at": (model.last_updated_timestamp or 0) / 1000.0,
            }
        )
    return found


def _versions(registry: Registry, name: str) -> list[dict[str, Any]]:
    versions = registry.versions(name)
    if not versions:
        raise HttpError(404, f"model {name} is not registered")
    aliases: dict[str, list[str]] = {}
    for alias, version in (registry.client.get_registered_model(name).aliases or {}).items():
        aliases.setdefault(str(version), []).append(alias)
    result = []
    for v in versions:
        metrics = registry.run_metrics(v.run_id)
        result.append(
            {
                "version": str(v.version),
                "created_at": (v.creation_timestamp or 0) / 1000.0,
                "run_id": v.run_id,
                "aliases": sorted(aliases.get(str(v.version), [])),
                "metrics": {
                    k.removeprefix("test_"): val
                    for k, val in metrics.items()
                    if k.startswith("test_")
                },
                "family": v.tags.get(FAMILY_TAG),
                "status": v.status,
            }
        )
    return result


async def whoami(ctx: Context, request: Request) -> Response:
    identity = identify(request.headers.get("authorization"), ctx.keys)
    return JSONResponse({"role": None if identity is None else identity.role})


async def list_models(ctx: Context, request: Request) -> Response:
    return JSONResponse({"models": await _mlflow(_models, ctx.registry)})


async def list_versions(ctx: Context, request: Request) -> Response:
    name = request.path_params["name"]
    return JSONResponse({"versions": await _mlflow(_versions, ctx.registry, name)})


async def model_schema(ctx: Context, request: Request) -> Response:
    status = await status_of(ctx, requested_model(request, request.path_params["name"]))
    keys = (
        "name",
        "alias",
        "version",
        "task",
        "inputs",
        "input_example",
        "classes",
        "probabilities",
    )
    return JSONResponse({k: status[k] for k in keys})


async def set_alias(ctx: Context, request: Request, body: AliasRequest) -> Response:
    name, alias = (
        request.path_params["name"],
        request.path_params["alias"],
    )  # grammar checked by the wrapper
    previous = await _mlflow(ctx.registry.set_alias, name, alias, body.version)
    log.info("alias %s@%s: %s -> %s", name, alias, previous, body.version)
    request.state.audit = f"version {body.version}, was {previous}"
    return JSONResponse(
        {"name": name, "alias": alias, "version": body.version, "previous_version": previous}
    )


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET",
        "/v1/whoami",
        whoami,
        "predict",
        "The role of the presented key",
        tag="platform",
        response=WhoAmI,
    ),
    Endpoint(
        "GET",
        "/v1/models",
        list_models,
        "predict",
        "Registered models and aliases",
        tag="registry",
        response=RegisteredModels,
    ),
    Endpoint(
        "GET",
        "/v1/models/{name}/versions",
        list_versions,
        "predict",
        "Versions with test metrics and aliases",
        tag="registry",
        response=ModelVersions,
    ),
    # Answered by the predictor (the version this replica serves), listed with the registry.
    Endpoint(
        "GET",
        "/v1/models/{name}/schema",
        model_schema,
        "predict",
        "Input columns, example and classes of a served version",
        tag="registry",
        query=ModelRef,
        response=ModelSchema,
    ),
    Endpoint(
        "POST",
        "/v1/models/{name}/aliases/{alias}",
        set_alias,
        "admin",
        "Promote or roll back: point an alias at a version",
        AliasRequest,
        tag="registry",
        response=AliasChange,
    ),
)
