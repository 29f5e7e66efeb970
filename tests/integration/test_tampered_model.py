"""Model integrity on the real stack: a tampered artifact is refused, and the replica keeps
serving the version it had."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.stack import Stack
from tests.waiting import NotYet, wait_until

pytestmark = pytest.mark.integration
ROW = [5.1, 3.5, 1.4, 0.2]


def _skops_file(stack: Stack, name: str, version: str) -> Path:
    source = MlflowClient(stack.settings.tracking_uri).get_model_version(name, version).source
    model_id = source.rsplit("/", 1)[-1]  # models:/m-<id>
    root = Path(stack.settings.artifacts_destination)
    (path,) = [p for p in root.rglob("model.skops") if model_id in p.parts]
    return path


def test_tampered_version_is_refused_and_the_old_one_keeps_serving(
    serving: Stack, two_versions: str
) -> None:
    name = two_versions
    assert serving.http("POST", f"/v1/models/{name}/aliases/champion", {"version": "1"})[0] == 200
    predict = f"/v1/models/{name}/predict"

    def served_version() -> str | None:
        status, body, _ = serving.http("POST", predict, {"instances": [ROW]})
        return body.get("version") if status == 200 else None

    # Each Ingress replica loads a model on its first request for it (one that never served
    # version 1 has nothing to keep serving) and follows the alias on its own watcher poll.
    # HAProxy (leastconn) sends requests that do not overlap to its replicas in turn: 20 in a
    # row answered by version 1 means every replica serves it.
    wait_until(
        lambda: all(served_version() == "1" for _ in range(20)),
        60,
        f"every Ingress replica to serve {name}@champion version 1",
    )

    skops = _skops_file(serving, name, "2")
    original = skops.read_bytes()
    skops.write_bytes(original + b"\0")  # one extra byte
    try:
        promoted = serving.http("POST", f"/v1/models/{name}/aliases/champion", {"version": "2"})
        assert promoted[0] == 200

        def refused() -> dict[str, object]:
            info: dict[str, object] = serving.http("GET", f"/model-info?model={name}@champion")[1][
                "models"
            ][0]
            if "IntegrityError" not in str(info.get("last_error")):
                raise NotYet(info)
            return info

        info = wait_until(refused, 30, "the watcher to refuse the tampered version")
        assert info["version"] == "1"
        assert "changed: model.skops" in str(info["last_error"])
        for _ in range(10):
            status, body, _ = serving.http("POST", predict, {"instances": [ROW]})
            assert (status, body["version"]) == (200, "1")

        status, body, headers = serving.http("POST", predict + "?version=2", {"instances": [ROW]})
        assert status == 503 and "integrity check" in body["detail"]
        assert headers.get("Retry-After")
    finally:
        skops.write_bytes(original)  # the other tests of `two_versions` load version 2
