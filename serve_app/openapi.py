"""The OpenAPI 3.1 document of the ingress, generated from its endpoint table.

Every schema comes from a pydantic model a row names (body, query, response), so the document,
the server and the web UI's generated types (`web/src/api/schema.d.ts`) share one source.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema

from serve_app.http.endpoint import JSON, OCTET, PARQUET, Endpoint
from serve_app.http.params import path_pattern

REF = "#/components/schemas/{model}"
ERRORS = {
    "400": "Malformed body",
    "401": "Missing or unknown API key",
    "403": "The key's role may not use this route",
    "404": "Unknown model, version, job or schedule",
    "409": "Conflict: the name is taken, or the schedule is declared in serve_config.yaml",
    "413": "Body too large",
    "415": "Unsupported media type",
    "422": "Invalid input; the message names the field",
    "429": "Too many requests in flight",
    "503": "Not ready (model loading, MLflow or Ray unreachable); see Retry-After",
}
ERROR_NAMES = {
    "400": "BadRequest",
    "401": "Unauthorized",
    "403": "Forbidden",
    "404": "NotFound",
    "409": "Conflict",
    "413": "TooLarge",
    "415": "UnsupportedMediaType",
    "422": "InvalidInput",
    "429": "TooManyRequests",
    "503": "NotReady",
}
"""Status → the name of its response in `components/responses`."""
ERROR_SCHEMAS = {
    key: {"type": "object", "properties": {key: {"type": "string"}}, "required": [key]}
    for key in ("detail", "error")
}
"""An error body by `Endpoint.error_key`: `{"detail": ...}`, V2's `{"error": ...}`."""
ERROR_MODELS = {"detail": "Error", "error": "V2Error"}
BINARY = {"schema": {"type": "string", "format": "binary"}}

TEXT = {"text/plain": {"schema": {"type": "string"}}}


class _Schemas(GenerateJsonSchema):
    """Pydantic's JSON schemas without a title on every field (it repeats the field's name)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def openapi_document(endpoints: Iterable[Endpoint]) -> dict[str, Any]:
    """The document of `endpoints`, built once per table (pydantic's schemas take a while); a
    copy each call, so a caller may change it."""
    return copy.deepcopy(_document(tuple(endpoints)))


@functools.cache
def _document(endpoints: tuple[Endpoint, ...]) -> dict[str, Any]:
    components: dict[str, Any] = {ERROR_MODELS[k]: v for k, v in ERROR_SCHEMAS.items()}
    paths: dict[str, dict[str, Any]] = {}
    for e in endpoints:
        paths.setdefault(e.path, {})[e.method.lower()] = _operation(e, components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Rayline",
            "version": "0.1.0",
            "description": "Predictions, registry, jobs and metrics over Ray Serve.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "responses": {
                _error_name(status, key): {
                    "description": text,
                    "content": {JSON: {"schema": {"$ref": REF.format(model=model)}}},
                }
                for key, model in ERROR_MODELS.items()
                for status, text in ERRORS.items()
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation(e: Endpoint, components: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": e.name,
        "summary": e.summary,
        "tags": [e.tag],
        "parameters": [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "string", "pattern": f"^{path_pattern(name)}$"},
            }
            for name in re.findall(r"{(\w+)}", e.path)
        ]
        + (_query_parameters(e.query) if e.query else []),
    }
    if e.role:
        operation["security"] = [{"bearer": []}]
        operation["x-role"] = e.role
    if e.body is not None:
        content = {JSON: {"schema": _reference(e.body, components)}}
        if "text/csv" in e.media:
            content["text/csv"] = {"schema": {"type": "string"}}
        for binary in (OCTET, PARQUET):  # V2's JSON header then bytes; a Parquet file
            if binary in e.media:
                content[binary] = BINARY
        operation["requestBody"] = {"required": True, "content": content}
    answer = TEXT if e.response is None else {JSON: {"schema": _reference(e.response, components)}}
    if e.binary:  # the JSON header, then the outputs' bytes
        answer = {**answer, OCTET: BINARY}
    responses: dict[str, Any] = {
        str(e.status): {"description": HTTPStatus(e.status).phrase, "content": answer}
    }
    for also in e.also:
        text = f"{HTTPStatus(also).phrase}, with the body of a success"
        responses[str(also)] = {"description": text, "content": answer}
    for status in ERRORS:
        if status in responses or (status in ("401", "403") and not e.role):
            continue
        responses[status] = {"$ref": f"#/components/responses/{_error_name(status, e.error_key)}"}
    operation["responses"] = responses
    return operation


def _error_name(status: str, key: str) -> str:
    """The name in `components/responses` of the error `status` with its message under `key`."""
    return ("V2" if key == "error" else "") + ERROR_NAMES[status]


def _reference(model: type[BaseModel], components: dict[str, Any]) -> dict[str, str]:
    """`model` and the models it uses added to `components`; the `$ref` to it."""
    schema = model.model_json_schema(ref_template=REF, schema_generator=_Schemas)
    for name, definition in {**schema.pop("$defs", {}), model.__name__: schema}.items():
        if components.setdefault(name, definition) != definition:
            raise ValueError(f"two different models are named {name}: rename one of them")
    return {"$ref": REF.format(model=model.__name__)}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """One parameter per field. A query parameter is given or absent, never null: a nullable
    field is described by its non-null type."""
    schema = model.model_json_schema(ref_template=REF, schema_generator=_Schemas)
    if "$defs" in schema:
        raise ValueError(f"{model.__name__}: query parameters are plain values, not models")
    required = set(schema.get("required", ()))
    parameters = []
    for name, field in schema["properties"].items():
        description = field.pop("description", None)
        options = [o for o in field.pop("anyOf", ()) if o != {"type": "null"}]
        if options:
            (option,) = options  # a nullable field of one type
            field = {**option, **field}
        if field.get("default", 0) is None:
            del field["default"]
        parameter = {"name": name, "in": "query", "required": name in required, "schema": field}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters
