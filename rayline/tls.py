"""TLS at the Serve ingress: checking the certificate and key Rayline is given, bundling them
into the one PEM file HAProxy reads, and the client context that trusts that certificate.

HAProxy terminates TLS (`rayline.haproxy` adds `ssl crt <bundle>` to its HTTP and gRPC
listeners); the ingress replicas behind it stay plain HTTP on loopback. README "TLS".
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rayline.settings import Settings

CERT_VAR = "RAYLINE_TLS_CERT_FILE"
KEY_VAR = "RAYLINE_TLS_KEY_FILE"


class TLSConfigError(ValueError):
    """The TLS certificate or key cannot serve: says which file, what is wrong, what to do."""


def _read(variable: str, path: Path) -> str:
    if not path.is_file():
        raise TLSConfigError(f"{variable}={path}: no such file")
    try:
        return path.read_text()
    except PermissionError:
        raise TLSConfigError(
            f"{variable}={path}: not readable by this user (uid {os.getuid()}); "
            "give it read access (the key may stay mode 0600 if this user owns it)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TLSConfigError(f"{variable}={path}: cannot be read as PEM text ({exc})") from None


def _no_passphrase() -> bytes:
    raise TLSConfigError("encrypted key")


def check_pair(cert_file: Path, key_file: Path) -> None:
    """Raise `TLSConfigError` unless `cert_file` holds a PEM certificate (chain) and `key_file`
    the unencrypted private key that belongs to it (they may be one file holding both)."""
    cert = _read(CERT_VAR, cert_file)
    key = _read(KEY_VAR, key_file)
    if "-----BEGIN CERTIFICATE-----" not in cert:
        raise TLSConfigError(
            f"{CERT_VAR}={cert_file}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        )
    if "PRIVATE KEY-----" not in key:
        raise TLSConfigError(
            f"{KEY_VAR}={key_file}: holds no PEM private key (-----BEGIN PRIVATE KEY-----)"
        )
    if "ENCRYPTED" in key:
        raise TLSConfigError(
            f"{KEY_VAR}={key_file}: the key is encrypted and HAProxy cannot ask for its "
            f"passphrase; decrypt it: openssl pkey -in {key_file} -out <new file> (mode 0600)"
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert_file, key_file, password=_no_passphrase)
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise TLSConfigError(
                f"{KEY_VAR}={key_file}: this key does not belong to the certificate in "
                f"{CERT_VAR}={cert_file}; give the key the certificate was issued for"
            ) from None
        raise TLSConfigError(
            f"{CERT_VAR}={cert_file}, {KEY_VAR}={key_file}: OpenSSL cannot load them ({exc}); "
            "check both are PEM (openssl x509 -in CERT -noout; openssl pkey -in KEY -noout)"
        ) from None


def write_bundle(cert_file: Path, key_file: Path, bundle: Path) -> Path:
    """`bundle`: the certificate (chain) then the key, the one PEM file HAProxy's `crt` reads,
    in a folder only this user may enter and readable by this user only. Written under a
    temporary name and renamed, so a HAProxy starting meanwhile reads the old file or the new."""
    parts = [cert_file.read_text()]
    if key_file.resolve() != cert_file.resolve():
        parts.append(key_file.read_text())
    text = "".join(part if part.endswith("\n") else part + "\n" for part in parts)
    bundle.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    bundle.parent.chmod(0o700)
    temporary = bundle.with_name(f".{bundle.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(text)
    os.replace(temporary, bundle)
    return bundle


def bundle_path(settings: Settings) -> Path:
    """Where `rayline-haproxy` writes the bundle: `<home>/tls/ingress.pem`."""
    return settings.home / "tls" / "ingress.pem"


def client_context(cert_file: Path) -> ssl.SSLContext:
    """A client context that trusts the system's CAs and `cert_file`'s certificates as well (a
    self-signed or privately issued ingress certificate), hostname checks on."""
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=cert_file)
    # The ingress certificate itself is the trust anchor, though a CA may have issued it.
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


def serve_context(settings: Settings) -> ssl.SSLContext | None:
    """The context for a client of `settings.serve_url`: None (plain HTTP) when TLS is off."""
    if settings.tls_cert_file is None:
        return None
    return client_context(settings.tls_cert_file)
