"""Every private Ray API the Serve application touches, in one place.

- Ray Serve binds its gRPC servers to `[::]:<port>`, every interface, with no setting to change
  it: each replica's inter-deployment server (`ray/serve/_private/replica.py` calls
  `add_port_to_grpc_server(self._server, "[::]:0")`) and the servers V2 gRPC clients reach, in
  the ingress replicas and in the fallback proxy HAProxy falls back on
  (`ray/serve/_private/grpc_util.py` calls `default_impl.add_grpc_address`). On a node whose
  address is loopback (the default `make up`), the patch binds them to 127.0.0.1 like the rest
  of Ray.
- Ray has no public per-node view of available resources; the Metrics deployment reads
  `ray._private.state.available_resources_per_node`.

The fallback proxy is Ray's own actor: none of Rayline's code runs in it before it binds. So the
patch is Ray's worker process setup hook (`WORKER_SETUP_HOOK`, which `rayline.stack.ray_env`
sets for a loopback head): every Ray worker runs `bind_grpc_to_loopback` as it starts, which
patches the two modules when (and if) the worker imports them. tests/unit/test_ray_patches.py
pins every symbol used here, so a Ray upgrade that moves one fails there.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

AddPort = Callable[[Any, str], Any]
"""`add_port_to_grpc_server(server, address) -> port`, `add_grpc_address(server, address)`."""
ALL_INTERFACES = "[::]:"
LOOPBACK = "127.0.0.1"
WORKER_SETUP_HOOK_VARIABLE = "__RAY_WORKER_PROCESS_SETUP_HOOK_ENV_VAR"
"""Ray's worker process setup hook (`ray._private.ray_constants`): a worker started with it
set imports and calls that function before it runs anything else."""
WORKER_SETUP_HOOK = "serve_app._ray_patches.bind_grpc_to_loopback"
PATCHED = {
    "ray.serve._private.replica": "add_port_to_grpc_server",
    "ray.serve._private.default_impl": "add_grpc_address",
}
"""Module → the function through which it binds a gRPC server to every interface."""


def loopback_add_port(original: AddPort, node_ip: Callable[[], str]) -> AddPort:
    """`original`, but binding to 127.0.0.1 instead of every interface on a loopback node."""

    def add_port(server: Any, address: str) -> Any:
        if address.startswith(ALL_INTERFACES) and node_ip() == LOOPBACK:
            address = f"{LOOPBACK}:{address.rsplit(':', 1)[1]}"
        return original(server, address)

    add_port.rayline_loopback = True  # type: ignore[attr-defined]
    return add_port


def bind_grpc_to_loopback() -> None:
    """In a Ray worker (`WORKER_SETUP_HOOK`): patch `PATCHED` as they are imported (now, for
    those already imported); each patched function binds to 127.0.0.1 on a loopback node."""
    for name, function in PATCHED.items():
        if name in sys.modules:
            patch(sys.modules[name], function)
    if not any(isinstance(finder, _PatchOnImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _PatchOnImport())


def patch(module: ModuleType, function: str) -> None:
    """`module.function` replaced by its loopback version (once)."""
    from ray.util import get_node_ip_address

    original: Any = getattr(module, function)
    if not getattr(original, "rayline_loopback", False):
        setattr(module, function, loopback_add_port(original, get_node_ip_address))


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Finds the `PATCHED` modules as Python would, and patches each once it has run."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in PATCHED:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _PatchingLoader(spec.loader, PATCHED[fullname])
        return spec


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, inner: Any, function: str) -> None:
        self.inner = inner
        self.function = function

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        module: ModuleType | None = self.inner.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        self.inner.exec_module(module)
        patch(module, self.function)

    def __getattr__(self, name: str) -> Any:  # get_source, get_code...: the inner loader's
        return getattr(self.inner, name)


def available_resources_per_node() -> dict[str, dict[str, float]]:
    """Node id (hex) → its available resources, from the connected cluster's GCS."""
    from ray._private.state import available_resources_per_node as per_node

    available: dict[str, dict[str, float]] = per_node()  # type: ignore[no-untyped-call]
    return available
