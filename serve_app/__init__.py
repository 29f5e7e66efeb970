"""The Ray Serve application: ingress, predictor and metrics deployments."""

from __future__ import annotations

from typing import Any


def _replica_grpc_on_loopback() -> None:
    """Ray Serve binds each replica's inter-deployment gRPC server to `[::]:0`, every
    interface, with no setting to change it (ray/serve/_private/replica.py). On a node whose
    address is loopback (the default `make up`), bind it to 127.0.0.1 like the rest of Ray.

    Runs in every replica process: unpickling a deployment class imports this package before
    the replica starts that server."""
    from ray.serve._private import replica
    from ray.util import get_node_ip_address

    original: Any = getattr(replica, "add_port_to_grpc_server")  # noqa: B009 (not exported)
    if getattr(original, "rayline_loopback", False):
        return

    def add_port(server: Any, address: str) -> int:
        if address.startswith("[::]:") and get_node_ip_address() == "127.0.0.1":  # type: ignore[no-untyped-call]
            address = "127.0.0.1:" + address.rsplit(":", 1)[1]
        port: int = original(server, address)
        return port

    add_port.rayline_loopback = True  # type: ignore[attr-defined]
    setattr(replica, "add_port_to_grpc_server", add_port)  # noqa: B010


_replica_grpc_on_loopback()
