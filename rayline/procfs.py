"""What Linux's /proc says about a process: its command line and its `stat` fields.

One reader for the supervisor, the CPU priorities, the benchmarks and the tests. A process that
is gone (or that may not be read) reads as empty: [] or None.
"""

from __future__ import annotations

import os
from pathlib import Path


def argv(pid: int) -> list[str]:
    """The process's command line, one item per argument (a process title set by Ray is one
    item); [] if the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    words = raw.decode(errors="replace").split("\0")
    while words and not words[-1]:
        words.pop()
    return words


def command(pid: int) -> str:
    """The command line as one string ("" if the process is gone)."""
    return " ".join(argv(pid)).strip()


def stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name: [0] is the state (field 3 of
    proc(5)), [1] the parent pid, [3] the session, [11] and [12] user and system CPU ticks,
    [16] the nice value. None if the process is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields if len(fields) > 16 else None


def nice(pid: int) -> int | None:
    fields = stat(pid)
    return int(fields[16]) if fields else None


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU time the process has used so far."""
    fields = stat(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pids() -> list[int]:
    """Every process's pid."""
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
