"""Every private Ray API the Serve application touches, in one place.

- Ray Serve binds each replica's inter-deployment gRPC server to `[::]:0`, every interface,
  with no setting to change it (`ray/serve/_private/replica.py` calls
  `add_port_to_grpc_server(self._server, "[::]:0")`), and an ingress replica's gRPC server
  for clients (HAProxy forwards V2 gRPC calls to it) to `[::]:<port>`
  (`ray/serve/_private/grpc_util.py` calls `default_impl.add_grpc_address`). On a node whose
  address is loopback (the default `make up`), the patch binds both to 127.0.0.1 like the rest
  of Ray.
- Ray has no public per-node view of available resources; the Metrics deployment reads
  `ray._private.state.available_resources_per_node`.

Each deployment's constructor calls `bind_replica_grpc_to_loopback()` first: Serve constructs
the user's class before it starts that gRPC server. (Not an import side effect: a replica
unpickles its deployment class by value, so which modules it imports, and when, is Ray's
business.) tests/unit/test_ray_patches.py pins every symbol used here, so a Ray upgrade that
moves one fails there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

AddPort = Callable[[Any, str], Any]
"""`add_port_to_grpc_server(server, address) -> port`, `add_grpc_address(server, address)`."""
ALL_INTERFACES = "[::]:"
LOOPBACK = "127.0.0.1"


def loopback_add_port(original: AddPort, node_ip: Callable[[], str]) -> AddPort:
    """`original`, but binding to 127.0.0.1 instead of every interface on a loopback node."""

    def add_port(server: Any, address: str) -> Any:
        if address.startswith(ALL_INTERFACES) and node_ip() == LOOPBACK:
            address = f"{LOOPBACK}:{address.rsplit(':', 1)[1]}"
        return original(server, address)

    add_port.rayline_loopback = True  # type: ignore[attr-defined]
    return add_port


def bind_replica_grpc_to_loopback() -> None:
    """Patch `ray.serve._private.replica.add_port_to_grpc_server` and
    `ray.serve._private.default_impl.add_grpc_address` (once per process)."""
    from ray.serve._private import default_impl, replica
    from ray.util import get_node_ip_address

    for module, name in ((replica, "add_port_to_grpc_server"), (default_impl, "add_grpc_address")):
        original: Any = getattr(module, name)
        if not getattr(original, "rayline_loopback", False):
            setattr(module, name, loopback_add_port(original, get_node_ip_address))


def available_resources_per_node() -> dict[str, dict[str, float]]:
    """Node id (hex) → its available resources, from the connected cluster's GCS."""
    from ray._private.state import available_resources_per_node as per_node

    available: dict[str, dict[str, float]] = per_node()  # type: ignore[no-untyped-call]
    return available
