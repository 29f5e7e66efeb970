"""The fixed ports of every Rayline stack that runs on this machine: one table, one row a stack.

Stacks run side by side on one machine (`make up`, the tests' stacks, the chaos suite, the
platform benchmark), each under its own home folder and on its own fixed ports; every other port
a stack uses is picked free when it starts or lies in its Serve block. Two rules keep the rows
apart, and tests/unit/test_haproxy.py checks both:

- Serve owns `SERVE_PORT_BLOCK` ports from a stack's Serve port on, as many from its gRPC port
  on (1000 above), and binds them with SO_REUSEPORT, so a port two stacks share is no error
  but a coin toss over which one answers: no fixed port of any stack lies in another stack's
  Serve blocks.
- Ray gives its workers ports 10002-19999 and refuses a Ray client port among them.

A new stack takes a new row here; `LocalStack.from_profile` (`rayline.stack.harness`) starts it.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Any

from rayline.settings import GRPC_PORT_OFFSET, Settings
from rayline.stack.ray_env import SERVE_PORT_BLOCK

PORT_FIELDS = (
    "mlflow_port",
    "ray_gcs_port",
    "ray_dashboard_port",
    "serve_port",
    "ray_agent_port",
    "ray_client_port",
)
"""The `Settings` fields a profile fixes, in the order a profile lists them."""

RAY_WORKER_PORTS = range(10002, 20000)
"""Ports Ray gives its workers; a Ray client port must lie outside them."""


class PortsInUse(RuntimeError):
    """A stack cannot start: something else listens on one of its ports."""


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) != 0


@dataclass(frozen=True)
class PortProfile:
    """The fixed ports of one named stack."""

    name: str
    mlflow_port: int
    ray_gcs_port: int
    ray_dashboard_port: int
    serve_port: int
    ray_agent_port: int
    ray_client_port: int

    @classmethod
    def from_settings(cls, name: str, settings: Settings) -> PortProfile:
        """The ports `settings` give a stack, as a profile."""
        return cls(name, *(getattr(settings, field) for field in PORT_FIELDS))

    def ports(self) -> dict[str, int]:
        """`RAYLINE_*` variable → port."""
        return {f"RAYLINE_{field.upper()}": getattr(self, field) for field in PORT_FIELDS}

    def env(self) -> dict[str, str]:
        """The `RAYLINE_*` variables that put a stack on these ports."""
        return {name: str(port) for name, port in self.ports().items()}

    def serve_block(self) -> list[int]:
        """The ports this stack's Serve owns: its HTTP and gRPC ports, the ingress replicas',
        the fallback proxy's."""
        grpc_port = self.serve_port + GRPC_PORT_OFFSET
        return [
            *range(self.serve_port, self.serve_port + SERVE_PORT_BLOCK),
            *range(grpc_port, grpc_port + SERVE_PORT_BLOCK),
        ]

    def busy(self) -> list[str]:
        """`RAYLINE_*=port` for each of the ports something listens on now."""
        return [f"{name}={port}" for name, port in self.ports().items() if not port_free(port)]

    def wait_free(self, seconds: float = 30) -> None:
        """Until nothing listens on these ports (an earlier run's processes may be exiting)."""
        deadline = time.monotonic() + seconds
        while busy := self.busy():
            if time.monotonic() >= deadline:
                raise PortsInUse(
                    f"ports the {self.name} stack needs are in use: {', '.join(busy)}; "
                    "stop what holds them (an earlier run?) and retry"
                )
            time.sleep(1)

    def settings(self, **fields: Any) -> Settings:
        """`Settings` on these ports, with `fields` (e.g. `home`) given explicitly."""
        return Settings(**{field: getattr(self, field) for field in PORT_FIELDS}, **fields)


# name, then the ports of MLflow, the Ray GCS, the Ray dashboard, Serve, the dashboard agent
# and the Ray client server (PORT_FIELDS).

# `make up` and `python -m rayline.stack`: the defaults of `Settings`.
DEV = PortProfile("dev", *(Settings.model_fields[field].default for field in PORT_FIELDS))
# tests/stack.py: the session stack of the integration and browser tests.
TEST = PortProfile("test", 5051, 6391, 8266, 8020, 52376, 10000)
# tests/integration/production/cluster.py: two nodes, GCS fault tolerance, PostgreSQL and S3.
PRODUCTION_TEST = PortProfile("production-test", 5093, 6467, 8331, 8040, 52431, 20043)
# `make chaos` (bench/chaos/): the load-and-fault suite.
CHAOS = PortProfile("chaos", 5091, 6441, 8306, 8080, 52416, 20061)
# bench/run_platform.py: cold start and idle memory of a stack of its own.
BENCH_PLATFORM = PortProfile("bench-platform", 5061, 6401, 8276, 8100, 52386, 9211)
# tests/integration/test_backup.py: an MLflow server backed up, wiped and restored.
BACKUP_TEST = PortProfile("backup-test", 5071, 6411, 8286, 8120, 52396, 20071)
# tests/integration/test_tls.py: a stack whose ingress terminates TLS.
TLS_TEST = PortProfile("tls-test", 5081, 6431, 8296, 8140, 52406, 20081)

PROFILES = {
    p.name: p for p in (DEV, TEST, PRODUCTION_TEST, CHAOS, BENCH_PLATFORM, BACKUP_TEST, TLS_TEST)
}
"""Every stack that may run on this machine at the same time as the others, by name."""


def profile(name: str) -> PortProfile:
    """The profile called `name`; the error lists the names there are."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(
            f"no stack profile named {name!r}; use one of {', '.join(PROFILES)} "
            "or add a row to rayline/stack/profiles.py"
        ) from None
