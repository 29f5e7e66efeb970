"""Serving first (`rayline.priority`): every thread of a training job's processes runs niced
(`Settings.training_niceness`), and so does Ray's control plane on the head
(`Settings.control_plane_niceness`); a Serve replica does not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rayline.priority import is_control_plane, yield_control_plane
from rayline.procfs import nice

NICE_PROBE = """
import os, sys, threading
from rayline.priority import lower_priority

def nice_of(tid):
    # Field 19 of /proc/<pid>/task/<tid>/stat, counted after the command's closing parenthesis;
    # None for a thread that ended meanwhile.
    try:
        stat = open(f"/proc/self/task/{tid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(stat[16])

stop = threading.Event()
before = threading.Thread(target=stop.wait, daemon=True)
before.start()
lower_priority(int(sys.argv[1]))
seen = {}
after = threading.Thread(target=lambda: seen.update(after=nice_of(threading.get_native_id())))
after.start()
after.join()
found = {nice_of(tid) for tid in os.listdir("/proc/self/task")} | {seen["after"]}
print(sorted(found - {None}))
stop.set()
"""


@pytest.mark.parametrize(("niceness", "expected"), [(7, [7]), (0, [0])])
def test_training_yields_the_cpu_on_every_thread_and_on_threads_started_later(
    niceness: int, expected: list[int]
) -> None:
    # In a child process: a process cannot take back a lower priority it gave itself.
    done = subprocess.run(
        [sys.executable, "-c", NICE_PROBE, str(niceness)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert json.loads(done.stdout) == expected, done.stderr


def test_rays_dashboard_and_agent_are_control_plane_and_a_replica_or_the_raylet_is_not() -> None:
    assert is_control_plane(["ray-dashboard-ServeHead-0 (/venv/bin/python -B -c ...)"])
    assert is_control_plane(["ray::DashboardAgent"])
    assert is_control_plane(["/venv/bin/python", "-u", "/venv/lib/ray/dashboard/agent.py", "-x"])
    assert is_control_plane(["/venv/bin/python", "/venv/lib/ray/dashboard/dashboard.py"])
    assert not is_control_plane(["ray::ServeReplica:rayline:Ingress"])
    # The raylet is given the agent's command line; its workers inherit its priority.
    raylet = ["/venv/lib/ray/core/src/ray/raylet/raylet", "--node_ip_address=127.0.0.1"]
    agent = "--dashboard_agent_command=/venv/bin/python -u /venv/lib/ray/dashboard/agent.py"
    assert not is_control_plane([*raylet, agent])
    assert not is_control_plane([])


def test_only_the_control_plane_among_the_pids_is_reniced(tmp_path: Path) -> None:
    agent_script = tmp_path / "ray" / "dashboard" / "agent.py"
    agent_script.parent.mkdir(parents=True)
    agent_script.write_text("import time; time.sleep(120)")
    other_script = tmp_path / "replica.py"
    other_script.write_text("import time; time.sleep(120)")
    agent = subprocess.Popen([sys.executable, str(agent_script)])
    replica = subprocess.Popen([sys.executable, str(other_script)])
    try:
        found = yield_control_plane([agent.pid, replica.pid, 2**22 + 1], 6)
        assert found == [agent.pid]
        assert (nice(agent.pid), nice(replica.pid)) == (6, 0)
    finally:
        for process in (agent, replica):
            process.kill()
            process.wait()
