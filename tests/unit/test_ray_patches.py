"""The private Ray APIs `serve_app._ray_patches` relies on are where, and shaped how, the patch
expects: a Ray upgrade that moves or reshapes one fails here, not in a replica."""

from __future__ import annotations

import inspect
import subprocess
import sys
from typing import Any

import pytest

from rayline.settings import PROJECT_ROOT, Settings
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
    from ray.serve._private import default_impl, replica

    _ray_patches.patch(replica, "add_port_to_grpc_server")
    patched: Any = replica.add_port_to_grpc_server
    assert getattr(patched, "rayline_loopback", False)
    _ray_patches.patch(replica, "add_port_to_grpc_server")  # again: no second wrapper
    assert replica.add_port_to_grpc_server is patched
    assert tls_utils.add_port_to_grpc_server is not patched  # only the replica's use changes
    assert set(_ray_patches.PATCHED) == {default_impl.__name__, replica.__name__}


def test_a_worker_patches_the_modules_as_it_imports_them() -> None:
    # What every Ray worker of a loopback stack runs first (Ray's worker setup hook), in a fresh
    # interpreter: nothing imported yet, then the modules imported the way Ray imports them.
    probe = (
        "import sys; from serve_app import _ray_patches as p; p.bind_grpc_to_loopback(); "
        "assert not [m for m in p.PATCHED if m in sys.modules]; "
        "import ray.serve._private.default_impl as d, ray.serve._private.replica as r; "
        "import inspect; "
        "print(d.add_grpc_address.rayline_loopback, r.add_port_to_grpc_server.rayline_loopback, "
        "'add_grpc_address' in inspect.getsource(d))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["True", "True", "True"]


def test_rays_worker_setup_hook_variable_is_the_one_patched() -> None:
    from ray._private import ray_constants
    from ray._private.workers import default_worker

    assert (
        ray_constants.WORKER_PROCESS_SETUP_HOOK_ENV_VAR == _ray_patches.WORKER_SETUP_HOOK_VARIABLE
    )
    assert "load_and_execute_setup_hook(worker_process_setup_hook_key)" in inspect.getsource(
        default_worker
    )
    from rayline.stack.ray_env import WORKER_SETUP_HOOK, WORKER_SETUP_HOOK_VARIABLE, ray_env

    assert WORKER_SETUP_HOOK_VARIABLE == _ray_patches.WORKER_SETUP_HOOK_VARIABLE
    assert WORKER_SETUP_HOOK == _ray_patches.WORKER_SETUP_HOOK
    loopback = ray_env(Settings(ray_node_ip_address="127.0.0.1"))
    assert loopback[WORKER_SETUP_HOOK_VARIABLE] == WORKER_SETUP_HOOK
    machine = ray_env(Settings(ray_node_ip_address="10.0.0.5"))
    assert WORKER_SETUP_HOOK_VARIABLE not in machine  # there Ray binds its address
    module, _, function = _ray_patches.WORKER_SETUP_HOOK.rpartition(".")
    assert module == _ray_patches.__name__ and callable(getattr(_ray_patches, function))


@pytest.mark.parametrize(
    ("node_ip", "asked", "bound"),
    [
        ("127.0.0.1", "[::]:0", "127.0.0.1:0"),
        ("127.0.0.1", "[::]:9000", "127.0.0.1:9000"),
        ("10.0.0.5", "[::]:0", "[::]:0"),  # a real node address: left to Ray
        ("127.0.0.1", "10.0.0.5:0", "10.0.0.5:0"),  # an explicit address: left alone
    ],
)
def test_loopback_nodes_bind_grpc_to_loopback(node_ip: str, asked: str, bound: str) -> None:
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
