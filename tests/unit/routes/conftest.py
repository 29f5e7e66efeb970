"""The ingress app in process: a context of fakes (`fakes.make_context`), a client that checks
every answer against its route's response model, and the check that each test requested the
routes it says it `covers`. A module overrides `ctx` to hand in other collaborators."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from serve_app.http.app import Context, create_app
from tests.unit.routes.fakes import check_contract, check_covered, make_context


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    return make_context(tmp_path)


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
        client.event_hooks = {"response": [check_contract]}  # every answer, against its model
        yield client


@pytest.fixture(autouse=True)
def _covered_routes_were_requested(request: pytest.FixtureRequest, ctx: Context) -> Iterator[None]:
    yield
    check_covered(request.function, ctx)
