"""CPU priority on a machine that serves: predictions first. Linux's nice is per thread, and a
thread started later inherits it from the thread that starts it, so lowering a process's
priority means lowering each of its threads'.

Two kinds of processes yield the CPU to serving (README "Settings"):
- training jobs, the driver and every trial (`Settings.training_niceness`), so that a job
  trains on the CPU that serving leaves idle;
- Ray's control plane on a Rayline head, the dashboard and its modules and the dashboard agent
  (`Settings.control_plane_niceness`): while the GCS is down each of them spins at about half a
  CPU reconnecting, which on 2 cores left the Ingress replicas 5 % of a CPU each
  (`make chaos`, gcs_kill's `outage_profile`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

from rayline import procfs

CONTROL_PLANE_TITLES = ("ray-dashboard-", "ray::DashboardAgent")
"""How Ray's dashboard modules and agent name themselves (process title)."""
CONTROL_PLANE_SCRIPTS = ("ray/dashboard/dashboard.py", "ray/dashboard/agent.py")
"""…and the scripts the dashboard head and agent run, before they rename themselves."""


def lower_priority(niceness: int, pid: int | None = None) -> None:
    """Run every thread of process `pid` (this one if None) at `niceness`, unless it already
    runs at that or lower priority; a process or thread that is gone is skipped."""
    if niceness <= 0:
        return
    tasks = Path(f"/proc/{pid or 'self'}/task")
    try:
        threads = [int(tid) for tid in os.listdir(tasks)]
    except OSError:  # not Linux, or the process is gone: the process as a whole
        threads = [pid or 0]
    for thread in threads:
        with contextlib.suppress(OSError):
            if os.getpriority(os.PRIO_PROCESS, thread) < niceness:
                os.setpriority(os.PRIO_PROCESS, thread, niceness)


def is_control_plane(argv: list[str]) -> bool:
    """Whether a process (its arguments) is Ray's dashboard head, one of its modules or the
    dashboard agent: by its title or the script it runs, never by a later argument (the
    raylet is given the agent's command line, and its workers, the Serve replicas among them,
    inherit its priority)."""
    if not argv:
        return False
    if argv[0].startswith(CONTROL_PLANE_TITLES):
        return True
    script = next((arg for arg in argv[1:3] if not arg.startswith("-")), "")
    return script.endswith(CONTROL_PLANE_SCRIPTS)


def yield_control_plane(pids: Iterable[int], niceness: int) -> list[int]:
    """Lower the priority of the control-plane processes among `pids`; returns their pids."""
    found = []
    for pid in pids:
        argv = procfs.argv(pid)
        if is_control_plane(argv):
            lower_priority(niceness, pid)
            found.append(pid)
    return found
