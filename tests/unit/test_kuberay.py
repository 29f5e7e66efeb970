"""deploy/kuberay: the RayService serves what serve_config.yaml serves, and both manifests are
valid RayService / RayCluster objects of KubeRay's pinned CRD schema (tests/kuberay/README.md).

The schema is made strict the way `kubectl apply --validate=strict` is: a field the schema does
not name is an error (CRD schemas leave additionalProperties unset, so plain JSON-schema
validation would accept a misspelt field).
"""

from __future__ import annotations

import copy
import functools
import gzip
from typing import Any

import jsonschema
import pytest
import yaml

from rayline.settings import PROJECT_ROOT

KUBERAY = "v1.7.0"
SCHEMAS = PROJECT_ROOT / "tests" / "kuberay"
MANIFESTS = PROJECT_ROOT / "deploy" / "kuberay"


@functools.cache
def crd_schema(plural: str) -> dict[str, Any]:
    path = SCHEMAS / f"ray.io_{plural}.{KUBERAY}.yaml.gz"
    crd = yaml.load(gzip.decompress(path.read_bytes()), Loader=yaml.CSafeLoader)
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    return strict(version["schema"]["openAPIV3Schema"])


def strict(schema: Any) -> Any:
    """The schema with unknown fields refused wherever Kubernetes would prune them."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((MANIFESTS / name).read_text()) if d]


def check(document: dict[str, Any]) -> None:
    schema = crd_schema(
        {"RayService": "rayservices", "RayCluster": "rayclusters"}[document["kind"]]
    )
    jsonschema.validate(document, schema)


@pytest.mark.parametrize("name", ["rayservice.yaml", "raycluster.yaml"])
def test_the_manifests_are_valid_objects_of_kuberays_crd_schema(name: str) -> None:
    (document,) = documents(name)
    assert document["apiVersion"] == "ray.io/v1"
    check(document)


def test_a_misspelt_field_fails_the_schema() -> None:
    (document,) = documents("raycluster.yaml")
    wrong = copy.deepcopy(document)
    wrong["spec"]["headGroupSpec"]["rayStartParam"] = wrong["spec"]["headGroupSpec"].pop(
        "rayStartParams"
    )
    with pytest.raises(jsonschema.ValidationError, match="rayStartParam"):
        check(wrong)
    wrong = copy.deepcopy(document)
    wrong["spec"]["workerGroupSpecs"][0]["replicas"] = "one"
    with pytest.raises(jsonschema.ValidationError):
        check(wrong)


def test_the_rayservice_serves_serve_config_yaml() -> None:
    """Everything of serve_config.yaml, but the Serve proxy listens on the pod's address."""
    (document,) = documents("rayservice.yaml")
    embedded = yaml.safe_load(document["spec"]["serveConfigV2"])
    expected = yaml.safe_load((PROJECT_ROOT / "serve_config.yaml").read_text())
    assert expected["http_options"]["host"] == "127.0.0.1"
    expected["http_options"]["host"] = "0.0.0.0"  # noqa: S104 - inside a pod, behind a Service
    assert embedded == expected


def test_the_ray_pods_read_the_shared_secret_and_mlflow() -> None:
    for name in ("rayservice.yaml", "raycluster.yaml"):
        (document,) = documents(name)
        cluster = document["spec"].get("rayClusterConfig", document["spec"])
        for group in [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]:
            (container,) = group["template"]["spec"]["containers"]
            env = {e["name"]: e["value"] for e in container["env"]}
            assert container["envFrom"] == [{"secretRef": {"name": "rayline"}}]
            assert container["image"] == "rayline:0.1.0"
            assert env["RAYLINE_MLFLOW_TRACKING_URI"] == "http://rayline-mlflow:5050"
            assert env["RAYLINE_MODE"] == "production"
        # Ray 2.60's token auth: KubeRay hands the token to the pods and uses it itself.
        assert cluster["authOptions"] == {"mode": "token", "secretName": "rayline-ray-token"}
