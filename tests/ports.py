"""Fixed ports of the integration tests' own stacks (production stores, scale-out), apart from
the session stack's (tests/stack.py) and the bench's, so they can run side by side.

Here rather than in their test modules so the unit test that checks the port blocks are
disjoint (tests/unit/test_haproxy.py) does not import the integration tests.
"""

from __future__ import annotations

# Client port outside Ray's default worker port range (10002-19999).
PRODUCTION = {
    "RAYLINE_MLFLOW_PORT": 5093,
    "RAYLINE_RAY_GCS_PORT": 6467,
    "RAYLINE_RAY_DASHBOARD_PORT": 8331,
    "RAYLINE_SERVE_PORT": 8040,
    "RAYLINE_RAY_AGENT_PORT": 52431,
    "RAYLINE_RAY_CLIENT_PORT": 20043,
}
"""tests/integration/test_production.py: PostgreSQL + S3."""

# Not the production test's ports; client port outside Ray's worker range (10002-19999).
SCALE_OUT = {
    "RAYLINE_MLFLOW_PORT": 5097,
    "RAYLINE_RAY_GCS_PORT": 6473,
    "RAYLINE_RAY_DASHBOARD_PORT": 8337,
    "RAYLINE_SERVE_PORT": 8060,
    "RAYLINE_RAY_AGENT_PORT": 52437,
    "RAYLINE_RAY_CLIENT_PORT": 20047,
}
"""tests/integration/test_scale_out.py: a head and a worker node, GCS fault tolerance."""
