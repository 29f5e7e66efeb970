"""TLS at the ingress without a stack: the settings that turn it on and refuse bad files, the
HAProxy config `rayline-haproxy` writes (checked by the bundled HAProxy itself), the bundle."""

from __future__ import annotations

import ipaddress
import os
import re
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError
from ray.serve._private.haproxy_templates import HAPROXY_CONFIG_TEMPLATE
from ray.serve.schema import HTTPOptionsSchema

from rayline import haproxy, stack
from rayline.settings import Settings

HOSTS = ("127.0.0.1", "localhost")


def self_signed(
    folder: Path, name: str = "ingress", hosts: tuple[str, ...] = HOSTS, passphrase: bytes = b""
) -> tuple[Path, Path]:
    """A fresh self-signed certificate for `hosts` and its key: (cert file, key file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / f"{name}.crt", folder / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    key_file.chmod(0o600)
    return cert_file, key_file


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path / "certs")


# --- settings ------------------------------------------------------------------------------


def test_tls_is_off_by_default_and_the_ingress_plain_http(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert not settings.tls_enabled
    assert settings.serve_url == "http://127.0.0.1:8000"
    assert "RAYLINE_TLS_CERT_FILE" not in stack.ray_env(settings)


def test_a_certificate_and_its_key_turn_https_on_and_reach_rays_processes(
    tmp_path: Path, pair: tuple[Path, Path]
) -> None:
    cert, key = pair
    settings = Settings(home=tmp_path, tls_cert_file=cert, tls_key_file=key)
    assert settings.tls_enabled
    assert settings.serve_url == "https://127.0.0.1:8000"
    # rayline-haproxy runs in a Ray worker and reads the same settings from its environment.
    env = stack.ray_env(settings)
    assert (env["RAYLINE_TLS_CERT_FILE"], env["RAYLINE_TLS_KEY_FILE"]) == (str(cert), str(key))


def test_one_pem_file_holding_both_is_accepted(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    combined = tmp_path / "both.pem"
    combined.write_text(pair[0].read_text() + pair[1].read_text())
    assert Settings(tls_cert_file=combined, tls_key_file=combined).tls_enabled


def test_relative_paths_become_absolute(
    tmp_path: Path, pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ray starts HAProxy and the replicas in other folders than the one `make up` ran in.
    monkeypatch.chdir(pair[0].parent)
    settings = Settings(tls_cert_file=pair[0].name, tls_key_file=pair[1].name)
    assert settings.tls_cert_file == pair[0] and settings.tls_key_file == pair[1]


@pytest.mark.parametrize("given", ["cert", "key"])
def test_one_without_the_other_is_refused_naming_both(pair: tuple[Path, Path], given: str) -> None:
    fields: dict[str, Any] = (
        {"tls_cert_file": pair[0]} if given == "cert" else {"tls_key_file": pair[1]}
    )
    with pytest.raises(ValidationError) as refused:
        Settings(**fields)
    message = str(refused.value)
    present, absent = (
        ("RAYLINE_TLS_CERT_FILE", "RAYLINE_TLS_KEY_FILE")
        if given == "cert"
        else ("RAYLINE_TLS_KEY_FILE", "RAYLINE_TLS_CERT_FILE")
    )
    assert f"{present} is set but {absent} is not" in message


def test_a_missing_file_is_named(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    with pytest.raises(ValidationError, match=r"RAYLINE_TLS_CERT_FILE=\S*nope.crt: no such file"):
        Settings(tls_cert_file=tmp_path / "nope.crt", tls_key_file=pair[1])


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_key_is_named(pair: tuple[Path, Path]) -> None:
    pair[1].chmod(0)
    with pytest.raises(ValidationError, match="RAYLINE_TLS_KEY_FILE=.*not readable by this user"):
        Settings(tls_cert_file=pair[0], tls_key_file=pair[1])


def test_a_key_of_another_certificate_is_refused(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    _, other_key = self_signed(tmp_path / "other", "other")
    with pytest.raises(ValidationError, match="this key does not belong to the certificate"):
        Settings(tls_cert_file=pair[0], tls_key_file=other_key)


def test_files_that_are_not_a_certificate_and_a_key_are_refused(
    tmp_path: Path, pair: tuple[Path, Path]
) -> None:
    with pytest.raises(ValidationError, match="RAYLINE_TLS_CERT_FILE=.*holds no PEM certificate"):
        Settings(tls_cert_file=pair[1], tls_key_file=pair[1])
    with pytest.raises(ValidationError, match="RAYLINE_TLS_KEY_FILE=.*holds no PEM private key"):
        Settings(tls_cert_file=pair[0], tls_key_file=pair[0])
    garbled = tmp_path / "garbled.crt"
    garbled.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(ValidationError, match="OpenSSL cannot load them"):
        Settings(tls_cert_file=garbled, tls_key_file=pair[1])


def test_an_encrypted_key_is_refused_saying_how_to_decrypt_it(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, passphrase=b"secret")
    with pytest.raises(ValidationError, match="encrypted.*openssl pkey"):
        Settings(tls_cert_file=cert, tls_key_file=key)


def test_the_redirect_port_needs_tls_and_a_port_of_its_own(pair: tuple[Path, Path]) -> None:
    with pytest.raises(ValidationError, match="RAYLINE_TLS_REDIRECT_PORT redirects"):
        Settings(tls_redirect_port=8080)
    for taken in (8000, 8017, 9000, 9005):  # Serve's own ports: HTTPS, replicas, gRPC
        with pytest.raises(ValidationError, match=r"among the ports Serve takes \(8000-8017, 9000"):
            Settings(tls_cert_file=pair[0], tls_key_file=pair[1], tls_redirect_port=taken)
    settings = Settings(tls_cert_file=pair[0], tls_key_file=pair[1], tls_redirect_port=8080)
    assert settings.tls_redirect_port == 8080


def test_serve_without_haproxy_takes_the_same_files_in_http_options(
    pair: tuple[Path, Path],
) -> None:
    # README "TLS": with RAY_SERVE_ENABLE_HA_PROXY=0, Serve's own proxy terminates TLS from
    # serve_config.yaml's http_options; a Ray that dropped these fields would refuse them here.
    options = HTTPOptionsSchema(ssl_certfile=str(pair[0]), ssl_keyfile=str(pair[1]))
    assert (options.ssl_certfile, options.ssl_keyfile) == (str(pair[0]), str(pair[1]))


# --- the HAProxy config --------------------------------------------------------------------

CONFIG = """global
    maxconn 100
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend prometheus
    bind :9101
    mode http
    http-request use-service prometheus-exporter if { path /metrics }
frontend http_frontend
    bind 127.0.0.1:8000
    http-request return status 200 content-type text/plain string "ok"
frontend grpc_frontend
    bind 127.0.0.1:9000 proto h2
    mode http
    http-request return status 200 content-type application/grpc hdr grpc-status 0
listen stats
  bind *:8404
  stats enable
"""


def binds(config: str) -> dict[str, str]:
    """Section name → its bind line's arguments."""
    found: dict[str, str] = {}
    section = ""
    for line in config.splitlines():
        if match := re.match(r"(frontend|listen|backend)\s+(\S+)", line):
            section = match.group(2)
        elif match := re.match(r"\s+bind\s+(.*)", line):
            found[section] = match.group(1)
    return found


def test_tls_terminates_on_the_http_and_grpc_frontends_only() -> None:
    pem = Path("/home/u/.rayline/tls/ingress.pem")
    config = haproxy.enable_tls(haproxy.pin_to_loopback(CONFIG), pem)
    assert binds(config) == {
        "prometheus": "127.0.0.1:9101",
        "http_frontend": f"127.0.0.1:8000 ssl crt {pem} alpn h2,http/1.1",
        "grpc_frontend": f"127.0.0.1:9000 proto h2 ssl crt {pem} alpn h2",
        "stats": "127.0.0.1:8404",
    }
    # The replicas behind HAProxy see the scheme the client used, not what HAProxy spoke.
    assert "http-request set-header X-Forwarded-Proto https" in config
    assert haproxy.REDIRECT_FRONTEND not in config  # no redirect unless a port is given
    assert haproxy.enable_tls(config, pem) == config


def test_the_redirect_frontend_sends_plain_http_to_the_https_port() -> None:
    config = haproxy.enable_tls(CONFIG, Path("/x.pem"), redirect_port=8019)
    assert binds(config)[haproxy.REDIRECT_FRONTEND] == "127.0.0.1:8019"
    redirect = config.split(f"frontend {haproxy.REDIRECT_FRONTEND}\n")[1]
    assert "redirect prefix https://%[req.hdr(host),field(1,:)]:8000 code 301" in redirect
    assert "redirect prefix https://127.0.0.1:8000 code 301" in redirect  # no Host header
    assert haproxy.enable_tls(config, Path("/x.pem"), redirect_port=8019) == config


def test_ray_serves_template_still_has_the_frontends_tls_is_added_to() -> None:
    # A Ray upgrade that renames or restructures the frontends shows up here.
    text = re.sub(r"\{\{ config\.(\w+_port) \}\}", "1234", HAPROXY_CONFIG_TEMPLATE)
    text = re.sub(r"\{\{ config\.(\w+_host) \}\}", "127.0.0.1", text)
    config = haproxy.enable_tls(text, Path("/x.pem"), redirect_port=4321)
    found = binds(config)
    assert found["http_frontend"].endswith("ssl crt /x.pem alpn h2,http/1.1")
    assert found["grpc_frontend"].endswith("proto h2 ssl crt /x.pem alpn h2")
    assert found[haproxy.REDIRECT_FRONTEND] == "127.0.0.1:4321"


def test_the_bundled_haproxy_accepts_the_rewritten_config(
    tmp_path: Path, pair: tuple[Path, Path]
) -> None:
    pem = tmp_path / "bundle.pem"
    pem.write_text(pair[0].read_text() + pair[1].read_text())
    config = tmp_path / "haproxy.cfg"
    config.write_text(haproxy.enable_tls(haproxy.pin_to_loopback(CONFIG), pem, redirect_port=8019))
    checked = subprocess.run(
        [haproxy.bundled_binary(), "-c", "-f", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_main_bundles_the_pair_privately_and_terminates_tls(
    tmp_path: Path, pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    for name, value in {
        "RAYLINE_HOME": home,
        "RAYLINE_TLS_CERT_FILE": pair[0],
        "RAYLINE_TLS_KEY_FILE": pair[1],
        "RAYLINE_TLS_REDIRECT_PORT": 8019,
    }.items():
        monkeypatch.setenv(name, str(value))
    config = tmp_path / "haproxy.cfg"
    config.write_text(CONFIG)
    monkeypatch.setattr(os, "execv", lambda path, argv: None)
    haproxy.main(["-db", "-f", str(config)])
    bundle = home / "tls" / "ingress.pem"
    assert bundle.read_text() == pair[0].read_text() + pair[1].read_text()
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o600
    assert stat.S_IMODE(bundle.parent.stat().st_mode) == 0o700
    found = binds(config.read_text())
    assert found["http_frontend"] == f"127.0.0.1:8000 ssl crt {bundle} alpn h2,http/1.1"
    assert found["prometheus"] == "127.0.0.1:9101"
    assert found[haproxy.REDIRECT_FRONTEND] == "127.0.0.1:8019"
    # A renewed certificate replaces the bundle at HAProxy's next start (a Serve reload).
    renewed = self_signed(tmp_path / "renewed")
    monkeypatch.setenv("RAYLINE_TLS_CERT_FILE", str(renewed[0]))
    monkeypatch.setenv("RAYLINE_TLS_KEY_FILE", str(renewed[1]))
    config.write_text(CONFIG)
    haproxy.main(["-db", "-f", str(config)])
    assert bundle.read_text() == renewed[0].read_text() + renewed[1].read_text()


def test_main_refuses_to_start_haproxy_on_a_broken_pair(
    tmp_path: Path, pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAYLINE_TLS_CERT_FILE", str(pair[0]))
    monkeypatch.setenv("RAYLINE_TLS_KEY_FILE", str(tmp_path / "gone.key"))
    config = tmp_path / "haproxy.cfg"
    config.write_text(CONFIG)
    started: list[str] = []
    monkeypatch.setattr(os, "execv", lambda path, argv: started.append(path))
    # Ray reports HAProxy's exit and this message as "HAProxy crashed during startup: ...".
    with pytest.raises(SystemExit, match="RAYLINE_TLS_KEY_FILE=.*gone.key: no such file"):
        haproxy.main(["-db", "-f", str(config)])
    assert not started
