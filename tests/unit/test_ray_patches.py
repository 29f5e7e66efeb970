"""The private Ray APIs `serve_app._ray_patches` relies on are where, and shaped how, the patch
expects: a Ray upgrade that moves or reshapes one fails here, not in a replica."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rayline.settings import PROJECT_ROOT
from serve_app import _ray_patches


def test_replicas_bind_their_grpc_server_through_the_patched_module_global() -> None:
    from ray.serve._private import replica

    # The replica calls the function through its module's global, with every interface; the
    # patch replaces that global and rewrites exactly that address.
    source = inspect.getsource(replica)
    assert 'add_port_to_grpc_server(self._server, "[::]:0")' in source
    assert "from ray._common.tls_utils import add_port_to_grpc_server" in source


def test_ingress_replicas_bind_their_client_grpc_server_through_default_impl() -> None:
    from ray.serve._private import default_impl, grpc_util

    # Looked up in default_impl at each call (a function-local import), with every interface.
    source = inspect.getsource(grpc_util.start_grpc_server)
    assert "from ray.serve._private.default_impl import add_grpc_address" in source
    assert 'add_grpc_address(server, f"[::]:{grpc_options.port}")' in source
    assert list(inspect.signature(default_impl.add_grpc_address).parameters) == [
        "grpc_server",
        "server_address",
    ]


def test_the_original_add_port_takes_server_and_address() -> None:
    from ray._common import tls_utils

    assert list(inspect.signature(tls_utils.add_port_to_grpc_server).parameters) == [
        "server",
        "address",
    ]


def test_the_patch_is_applied_once() -> None:
    from ray._common import tls_utils
    from ray.serve._private import replica

    from ray.serve._private import default_impl

    _ray_patches.bind_replica_grpc_to_loopback()
    patched: Any = replica.add_port_to_grpc_server
    assert getattr(patched, "rayline_loopback", False)
    client_grpc: Any = default_impl.add_grpc_address
    assert getattr(client_grpc, "rayline_loopback", False)
    _ray_patches.bind_replica_grpc_to_loopback()  # again: no second wrapper
    assert replica.add_port_to_grpc_server is patched
    assert default_impl.add_grpc_address is client_grpc
    assert tls_utils.add_port_to_grpc_server is not patched  # only the replica's use changes


@pytest.mark.parametrize(
    ("node_ip", "asked", "bound"),
    [
        ("127.0.0.1", "[::]:0", "127.0.0.1:0"),
        ("127.0.0.1", "[::]:9000", "127.0.0.1:9000"),
        ("10.0.0.5", "[::]:0", "[::]:0"),  # a real node address: left to Ray
        ("127.0.0.1", "10.0.0.5:0", "10.0.0.5:0"),  # an explicit address: left alone
    ],
)
def test_loopback_nodes_bind_replica_grpc_to_loopback(node_ip: str, asked: str, bound: str) -> None:
    calls: list[tuple[object, str]] = []

    def original(server: object, address: str) -> int:
        calls.append((server, address))
        return 4321

    add_port = _ray_patches.loopback_add_port(original, lambda: node_ip)
    assert add_port("server", asked) == 4321
    assert calls == [("server", bound)]


def test_ray_util_gives_the_node_ip() -> None:
    from ray.util import get_node_ip_address

    assert callable(get_node_ip_address)


def test_available_resources_per_node_takes_no_arguments() -> None:
    from ray._private import state

    assert inspect.signature(state.available_resources_per_node).parameters == {}
    assert hasattr(state.GlobalState, "available_resources_per_node")


def test_importing_the_package_patches_nothing() -> None:
    probe = (
        "import sys, serve_app; "
        "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('serve_app.')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


DEPLOYMENT_MODULES = {"ingress.py", "metrics.py", "scheduler.py"}


def _constructors_patching_first(path: Path) -> list[str]:
    """The classes of `path` whose `__init__` starts with `bind_replica_grpc_to_loopback()`
    (after a docstring, if any)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ClassDef):
            continue
        for item in node.body:
            if (
                isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                and item.name == "__init__"
            ):
                body = [s for s in item.body if not isinstance(s, ast.Expr) or not isinstance(
                    s.value, ast.Constant)]  # fmt: skip
                first = body[0] if body else None
                if (
                    isinstance(first, ast.Expr)
                    and isinstance(first.value, ast.Call)
                    and isinstance(first.value.func, ast.Name)
                    and first.value.func.id == "bind_replica_grpc_to_loopback"
                ):
                    found.append(node.name)
    return found


@pytest.mark.parametrize(
    ("module", "deployment"),
    [
        ("ingress.py", "Ingress"),
        ("metrics.py", "Metrics"),
        ("scheduler.py", "Scheduler"),
    ],
)
def test_every_deployment_patches_before_serve_starts_its_grpc_server(
    module: str, deployment: str
) -> None:
    assert module in DEPLOYMENT_MODULES
    assert deployment in _constructors_patching_first(PROJECT_ROOT / "serve_app" / module)
