"""The ingress in process (fakes, no Ray) against its own /openapi.json with every schemathesis
check (tests/conformance.py); and what the fuzzer does not send: a method a path lacks."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from starlette.testclient import TestClient

from serve_app.http.app import create_app
from serve_app.routes import ENDPOINTS
from tests.conformance import check_all, config
from tests.unit.routes.fakes import ADMIN, make_context

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def test_the_api_answers_as_its_openapi_document_says(tmp_path: Path) -> None:
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json", create_app(make_context(tmp_path)), config=config()
    )
    # A job or benchmark submitted to the fakes would only test the fakes.
    schema = schema.exclude(path_regex="^/v1/(jobs|benchmarks)$", method="POST")
    operations, failures = check_all(schema, lambda case: case.call(headers=ADMIN), ADMIN, 25)
    assert operations >= 40
    assert failures == []


@pytest.mark.parametrize("path", sorted({e.path for e in ENDPOINTS}))
def test_a_method_the_path_lacks_is_405_allowing_all_it_has(tmp_path: Path, path: str) -> None:
    has = {e.method for e in ENDPOINTS if e.path == path}
    url = path.format(name="iris", alias="champion", version="1", job_id="raysubmit_1")
    with TestClient(create_app(make_context(tmp_path))) as client:
        for method in METHODS:
            if method in has:
                continue
            response = client.request(method, url, headers=ADMIN)
            assert response.status_code == 405, (method, url)
            allowed = set(response.headers["allow"].replace(" ", "").split(","))
            assert allowed == has | ({"HEAD"} if "GET" in has else set()), (method, url)
