"""What the local stack started and still runs: `<home>/started.json`, pids, sockets, stopping.

Only processes that `up` recorded, and those below them, are ever signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from rayline import procfs
from rayline.settings import Settings

BIN = Path(sys.executable).parent
"""This environment's console scripts: `ray`, `mlflow`, `serve`, `rayline-haproxy`."""
RAY_STOP_GRACE_S = 3.0
"""How long a stopping Ray head gets after SIGTERM before SIGKILL. Its workers, replicas and
dashboard exit within a second; gcs_server, the raylet and the autoscaler's monitor wait on each
other and would hold on for the full grace (like `ray stop`'s own), with nothing left to save:
a head's state lives in the GCS (and in Redis when fault tolerance is on), not on its way out."""


def answers(url: str, timeout: float = 2.0) -> bool:
    """Whether anything answers HTTP on `url`, whatever the status."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):  # noqa: S310 - loopback URL
            return True
    except urllib.error.HTTPError:
        return True  # it answered, even if it wants a token
    except (OSError, ValueError):
        return False


def wait_for(
    url: str,
    what: str,
    log: Path,
    seconds: float = 90,
    process: subprocess.Popen[bytes] | None = None,
) -> None:
    """Wait until `url` answers; on failure name `log` and kill `process`'s group."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if answers(url):
            return
        if process is not None and process.poll() is not None:
            raise SystemExit(f"{what} exited with code {process.returncode}; see {log}")
        time.sleep(0.5)
    if process is not None:  # do not leave a server behind that nothing recorded
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    raise SystemExit(f"{what} did not answer on {url} within {seconds:.0f}s; see {log}")


def free_ports(count: int) -> list[int]:
    """Loopback ports the kernel reports free now (held open together so they are distinct)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def read_started(settings: Settings) -> dict[str, object]:
    """What `up` recorded in `<home>/started.json`: `mlflow_pid`, `ray_temp_dir`."""
    path = settings.home / "started.json"
    return json.loads(path.read_text()) if path.exists() else {}


def record_started(settings: Settings, started: dict[str, object]) -> None:
    (settings.home / "started.json").write_text(json.dumps(started, indent=2))


def _pids_using(*markers: str) -> list[int]:
    """Processes whose command line contains any of `markers` (one pass over /proc)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(marker in cmdline for marker in markers):
            pids.append(int(proc.name))
    return pids


def _head_markers(temp_dir: str, gcs_address: str | None) -> list[str]:
    """What names a head's processes: its temp dir, or only its GCS address (Ray's client
    server, which `ray start` leaves to init)."""
    return [temp_dir] + ([f"--address={gcs_address} "] if gcs_address else [])


def _terminate(pids: list[int], seconds: float = 15) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in pids):
        time.sleep(0.2)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _parents_and_sessions() -> dict[int, tuple[int, int]]:
    """pid → (parent pid, session id) of every process, from /proc/<pid>/stat."""
    found = {}
    for pid in procfs.pids():
        fields = procfs.stat(pid)
        if fields:
            found[pid] = (int(fields[1]), int(fields[3]))
    return found


def _session(sid: int) -> list[int]:
    """The processes of session `sid` (`up` starts MLflow in a session of its own)."""
    return [pid for pid, (_, session) in _parents_and_sessions().items() if session == sid]


def _with_descendants(pids: list[int]) -> list[int]:
    """`pids` and every process below them (dashboard modules do not name the temp dir)."""
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in _parents_and_sessions().items():
        children.setdefault(parent, []).append(pid)
    found, queue = set(pids), list(pids)
    while queue:
        for child in children.get(queue.pop(), []):
            if child not in found:
                found.add(child)
                queue.append(child)
    return sorted(found)


def head_pids(temp_dir: str, gcs_address: str | None) -> list[int]:
    """The processes of the Ray head whose temp dir is `temp_dir`, with their children."""
    return _with_descendants(_pids_using(*_head_markers(temp_dir, gcs_address)))


def stack_pids(settings: Settings) -> list[int]:
    """Every process this checkout's `up` started and that still runs, with their children."""
    started = read_started(settings)
    roots = _session(int(str(started["mlflow_pid"]))) if "mlflow_pid" in started else []
    if "ray_temp_dir" in started:
        roots += _pids_using(*_head_markers(str(started["ray_temp_dir"]), settings.ray_gcs_address))
    return [pid for pid in _with_descendants(roots) if Path(f"/proc/{pid}").exists()]


def listening(settings: Settings) -> list[dict[str, object]]:
    """The TCP sockets the stack's processes listen on: address, port, process name, pid."""
    pids = set(stack_pids(settings))
    output = subprocess.run(
        ["ss", "-ltnpH"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    rows: list[dict[str, object]] = []
    for line in output.splitlines():
        owners = [(name, int(pid)) for name, pid in re.findall(r'\("([^"]+)",pid=(\d+)', line)]
        mine = [owner for owner in owners if owner[1] in pids]
        if mine:
            address, _, port = line.split()[3].rpartition(":")
            address = address.strip("[]").removeprefix("::ffff:")
            rows.append({"address": address, "port": int(port), "process": mine[0][0],
                         "pid": mine[0][1]})  # fmt: skip
    return rows


def stop_ray(temp_dir: str, gcs_address: str | None = None) -> None:
    """Stop the Ray processes of this head, nothing else."""
    head = _with_descendants(_pids_using(*_head_markers(temp_dir, gcs_address)))
    _terminate(head, seconds=RAY_STOP_GRACE_S)
    # Workers of that head exit with their raylet; sweep any that outlived it.
    _terminate(_with_descendants(_pids_using(temp_dir)), seconds=RAY_STOP_GRACE_S)


def stop_mlflow(pid: int) -> None:
    """Stop the MLflow server `up` started in the session `pid`, and its workers."""
    _terminate(_session(pid), seconds=10)
