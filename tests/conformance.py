"""The API against its own /openapi.json with every schemathesis check, valid and invalid
inputs: in process on fakes (tests/unit/test_openapi_conformance.py) and on the real stack
(tests/integration/test_reliability.py). One list of what the document cannot say lives here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.schemas import OpenApiSchema

CHECKS = [c for c in checks.CHECKS.get_all() if c is not checks.max_response_time]
"""Every check schemathesis has but response time (tests never assert wall-clock time)."""
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "413", "429", "5xx"]
"""Answers to schema-valid input that are no rejection of it: auth, unknown names, a taken
name, the body limit, overload. (A 5xx fails `not_a_server_error` instead.)"""
SEMANTIC = {
    # Rows must fit the served model's signature and a tensor's data its shape: beyond what a
    # schema of any model can state. MLflow's protocol answers 400 where Rayline's says 422.
    "^/(predict|invocations|v1/models/[^/]+/predict|v2/models/.+/infer)$": ["400", "422"],
    # A schedule's cron, timezone and training config are checked by parsing them.
    "^/v1/schedules": ["422"],
}
"""Operations whose valid-looking input may still be refused, and with which statuses."""
REJECTED = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "429"]


def config() -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "checks": {
                "positive_data_acceptance": {"expected-statuses": ACCEPTED},
                "negative_data_rejection": {"expected-statuses": REJECTED},
            },
            "operations": [
                {
                    "include-path-regex": path,
                    "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED + more}},
                }
                for path, more in SEMANTIC.items()
            ],
        }
    )


def check_all(
    schema: OpenApiSchema, call: Callable[[Any], Any], headers: dict[str, str], examples: int
) -> tuple[int, list[str]]:
    """Every operation of `schema`, `examples` valid and `examples` invalid cases each, sent
    with `call(case)` and validated by every check; returns (operations, failures)."""
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _check(result.ok(), mode, call, headers, examples, failures)
    return operations, failures


def _check(
    operation: Any,
    mode: GenerationMode,
    call: Callable[[Any], Any],
    headers: dict[str, str],
    examples: int,
    failures: list[str],
) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,  # the same cases every run: a failure is a bug to replay, not luck
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        response = call(case)
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except BaseExceptionGroup as group:  # schemathesis' FailureGroup
            for failure in group.exceptions:
                title = getattr(failure, "title", type(failure).__name__)
                failures.append(
                    f"{operation.label} ({mode.value}): {title}: "
                    f"{response.status_code} {response.text[:200]}"
                )

    with contextlib.suppress(Unsatisfiable):  # nothing in the operation can be made invalid
        check()
