"""The OpenAPI 3.1 document of the ingress, generated from its endpoint table."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from serve_app.http.endpoint import Endpoint
from serve_app.http.params import ALIAS_PATTERN

QUERY_SCHEMAS: dict[str, dict[str, Any]] = {
    "alias": {"type": "string", "pattern": f"^{ALIAS_PATTERN}$"},
    "version": {"type": "string", "pattern": "^[0-9]{1,9}$"},
    "tail": {"type": "string", "pattern": "^[0-9]{1,5}$"},
    "minutes": {"type": "number", "minimum": 0.1, "maximum": 60},
    "model": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}[@/][A-Za-z0-9_-]{1,64}$"},
    "limit": {"type": "integer", "minimum": 1, "maximum": 200},
    "offset": {"type": "integer", "minimum": 0, "maximum": 1_000_000_000},
}
ERRORS = {
    "400": "Malformed body",
    "401": "Missing or unknown API key",
    "403": "The key's role may not use this route",
    "404": "Unknown model, version or job",
    "413": "Body too large",
    "415": "Unsupported media type",
    "422": "Invalid input; the message names the field",
    "429": "Too many requests in flight",
    "503": "Not ready (model loading, MLflow or Ray unreachable); see Retry-After",
}
ERROR_SCHEMA = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}


def openapi_document(endpoints: Iterable[Endpoint]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for e in endpoints:
        operation: dict[str, Any] = {
            "operationId": e.name,
            "summary": e.summary,
            "tags": [e.tag],
            "parameters": [
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,128}$"},
                }
                for name in re.findall(r"{(\w+)}", e.path)
            ]
            + [
                {"name": name, "in": "query", "required": False, "schema": QUERY_SCHEMAS[name]}
                for name in e.query
            ],
            "responses": {"200": {"description": "OK"}},
        }
        if e.role:
            operation["security"] = [{"bearer": []}]
            operation["x-role"] = e.role
        if e.body is not None:
            schema = e.body.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(schema.pop("$defs", {}))
            components[e.body.__name__] = schema
            content = {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{e.body.__name__}"}}
            }
            if "text/csv" in e.media:
                content["text/csv"] = {"schema": {"type": "string"}}
            operation["requestBody"] = {"required": True, "content": content}
        for status, text in ERRORS.items():
            if status in ("401", "403") and not e.role:
                continue
            operation["responses"][status] = {
                "description": text,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        paths.setdefault(e.path, {})[e.method.lower()] = operation
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
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
