"""TLS at the Serve ingress on a real stack: a certificate made here, HAProxy terminating HTTPS
and gRPC over TLS with it, plain HTTP redirected, untrusting clients refused, and every
listener still on loopback. A stack of its own (the `tls-test` profile), since TLS is set
when the Ray head starts."""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from bench.train_config import write_config
from rayline import stack as stack_module
from rayline.stack.harness import LocalStack
from rayline.stack.profiles import TLS_TEST
from rayline.stack.smoke import try_prediction, wait_ready
from rayline.stack.supervisor import free_ports
from rayline.tls import client_context
from serve_app.protos import open_inference_grpc_pb2 as pb
from serve_app.protos import open_inference_grpc_pb2_grpc as pb_grpc
from tests.stack import APP_ARGS, EXPERIMENT, PREDICTOR_CONFIG
from tests.unit.test_tls import self_signed

pytestmark = pytest.mark.integration

MODEL = "iris_tls"
ROW = [5.1, 3.5, 1.4, 0.2]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key."""
    return self_signed(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def tls_stack(
    tmp_path_factory: pytest.TempPathFactory, certificate: tuple[Path, Path]
) -> Iterator[LocalStack]:
    """A stack started with TLS on and a redirect port, serving one freshly trained model."""
    cert, key = certificate
    (redirect_port,) = free_ports(1)
    variables = {
        **EXPERIMENT,
        "RAYLINE_RAY_OBJECT_STORE_BYTES": str(500_000_000),
        "RAYLINE_TLS_CERT_FILE": str(cert),
        "RAYLINE_TLS_KEY_FILE": str(key),
        "RAYLINE_TLS_REDIRECT_PORT": str(redirect_port),
    }
    with LocalStack.from_profile(
        TLS_TEST,
        tmp_path_factory.mktemp("tls-home"),
        variables,
        app_args=APP_ARGS,
        predictor_config=PREDICTOR_CONFIG,
        remove_ray_temp=True,
    ) as running:
        running.train(write_config(running.configs, MODEL))
        running.deploy([MODEL])  # the harness's client trusts the configured certificate
        yield running


def _call(
    url: str, context: ssl.SSLContext | None, key: str | None = None, body: Any = None
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=30, context=context) as response:
        return response.status, json.loads(response.read())


def test_https_prediction_with_the_certificate_trusted(
    tls_stack: LocalStack, certificate: tuple[Path, Path]
) -> None:
    settings = tls_stack.settings
    assert settings.serve_url == f"https://127.0.0.1:{TLS_TEST.serve_port}"
    status, answer = _call(
        f"{settings.serve_url}/v1/models/{MODEL}/predict",
        client_context(certificate[0]),
        tls_stack.predict_key,
        {"instances": [ROW]},
    )
    assert status == 200 and answer["predictions"] == [0]
    # The name the certificate carries as well as its address.
    status, _ = _call(
        f"https://localhost:{settings.serve_port}/health", client_context(certificate[0])
    )
    assert status == 200


def test_make_demos_smoke_client_speaks_https(
    tls_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    # `make deploy` and `make demo` run these with the stack's settings: no SSL_CERT_FILE needed.
    wait_ready(tls_stack.settings, seconds=60)
    try_prediction(tls_stack.settings, MODEL)
    out = capsys.readouterr().out
    assert f"POST https://127.0.0.1:{TLS_TEST.serve_port}/v1/models/{MODEL}/predict" in out
    assert '"predictions": [0]' in out


def test_a_client_that_does_not_trust_the_certificate_is_refused(
    tls_stack: LocalStack, tmp_path: Path
) -> None:
    url = f"{tls_stack.settings.serve_url}/health"
    # The system's CAs only, as any client that was not told about this certificate.
    with pytest.raises(urllib.error.URLError) as untrusted:
        _call(url, ssl.create_default_context())
    assert isinstance(untrusted.value.reason, ssl.SSLCertVerificationError)
    # A client that trusts another certificate for the same names.
    other, _ = self_signed(tmp_path, "impostor")
    with pytest.raises(urllib.error.URLError) as wrong:
        _call(url, client_context(other))
    assert isinstance(wrong.value.reason, ssl.SSLCertVerificationError)


def test_plain_http_is_redirected_to_https(
    tls_stack: LocalStack, certificate: tuple[Path, Path]
) -> None:
    settings = tls_stack.settings
    assert settings.tls_redirect_port is not None
    connection = http.client.HTTPConnection("127.0.0.1", settings.tls_redirect_port, timeout=30)
    try:
        connection.request("GET", "/health?probe=1")
        response = connection.getresponse()
        assert response.status == 301
        assert response.getheader("Location") == f"{settings.serve_url}/health?probe=1"
    finally:
        connection.close()
    # A client that follows redirects ends on HTTPS.
    redirected = f"http://localhost:{settings.tls_redirect_port}/health"
    with urllib.request.urlopen(
        redirected, timeout=30, context=client_context(certificate[0])
    ) as got:
        assert got.status == 200
        assert got.url == f"https://localhost:{settings.serve_port}/health"
    # The HTTPS port itself answers plain HTTP with nothing: no TLS, no request.
    plain = http.client.HTTPConnection("127.0.0.1", settings.serve_port, timeout=30)
    try:
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
            plain.request("GET", "/health")
            plain.getresponse()
    finally:
        plain.close()


def test_grpc_speaks_tls_with_the_same_certificate(
    tls_stack: LocalStack, certificate: tuple[Path, Path]
) -> None:
    target = tls_stack.settings.grpc_target
    credentials = grpc.ssl_channel_credentials(root_certificates=certificate[0].read_bytes())
    with grpc.secure_channel(target, credentials) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        assert stub.ServerLive(pb.ServerLiveRequest(), timeout=30).live
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as plain:
            stub.ServerLive(pb.ServerLiveRequest(), timeout=30)
        assert plain.value.code() == grpc.StatusCode.UNAVAILABLE


def test_the_tls_listeners_stay_on_loopback(tls_stack: LocalStack) -> None:
    settings = tls_stack.settings
    rows = stack_module.listening(settings)
    listening = {row["port"]: row["address"] for row in rows}
    for port in (settings.serve_port, settings.grpc_port, settings.tls_redirect_port):
        assert listening.get(port) == "127.0.0.1", f"port {port}: {listening}"
    exposed = [row for row in rows if row["address"] != "127.0.0.1"]
    assert not exposed, f"listening beyond loopback (address, port, process, pid): {exposed}"
    # HAProxy's copy of the key is this user's alone.
    bundle = settings.home / "tls" / "ingress.pem"
    assert bundle.stat().st_mode & 0o077 == 0 and bundle.parent.stat().st_mode & 0o077 == 0
