"""The serving benchmarks' load generator: `wrk` (a C program), so that the client does not eat
the CPU it measures.

`make bench` installs Debian's `wrk` as `make browser` installs chromium. A run is one
`wrk -t2 -c<connections> -d<seconds>s` with a generated Lua script that sends the exact body
and headers of a `Target` and prints a JSON summary (throughput, latency percentiles, status
counts) in its `done` hook. wrk keeps its connections open (keep-alive), as a real client's
pool does.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCRIPT = """
wrk.method = "POST"
wrk.body = {body}
{headers}
function done(summary, latency, requests)
  local p = {{}}
  for _, q in ipairs({{50, 90, 99, 99.9}}) do
    local key = tostring(q):gsub("%.", "_")
    p[#p + 1] = string.format('"p%s_ms": %.3f', key, latency:percentile(q) / 1000)
  end
  io.write(string.format(
    'WRK_JSON {{"requests": %d, "duration_s": %.3f, "errors_connect": %d, "errors_read": %d, '
    .. '"errors_write": %d, "errors_status": %d, "errors_timeout": %d, "mean_ms": %.3f, %s}}\\n',
    summary.requests, summary.duration / 1e6, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency.mean / 1000, table.concat(p, ", ")))
end
"""


def _lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


@dataclass(frozen=True)
class Load:
    """One wrk run's shape: connections, threads, seconds."""

    connections: int
    seconds: float
    threads: int = 2


def binary() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise RuntimeError(
            "wrk is not installed: `make bench` installs it (Debian: sudo apt-get install wrk)"
        )
    return path


def run(url: str, body: bytes, headers: dict[str, str], load: Load) -> dict[str, Any]:
    """wrk against `url` with `body`; its summary with `throughput_rps` and `errors` added."""
    header_lines = "\n".join(
        f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in headers.items()
    )
    script = _SCRIPT.format(body=_lua_string(body.decode()), headers=header_lines)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "post.lua"
        path.write_text(script)
        threads = min(load.threads, load.connections)
        result = subprocess.run(
            [
                binary(),
                f"-t{threads}",
                f"-c{load.connections}",
                f"-d{load.seconds:g}s",
                "--timeout",
                "30s",
                "-s",
                str(path),
                url,
            ],
            capture_output=True,
            text=True,
            timeout=load.seconds + 60,
            check=False,
        )
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stdout}{result.stderr}")
    summary: dict[str, Any] = json.loads(line.removeprefix("WRK_JSON "))
    summary["throughput_rps"] = round(summary["requests"] / summary["duration_s"], 1)
    summary["errors"] = sum(v for k, v in summary.items() if k.startswith("errors_"))
    return summary
