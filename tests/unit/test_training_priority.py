"""Training yields the CPU to serving: every thread of a job's processes runs niced
(`Settings.training_niceness`), so a job on a serving machine takes only what serving leaves."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

NICE_PROBE = """
import os, sys, threading
from rayline.training import yield_cpu_to_serving

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
yield_cpu_to_serving(int(sys.argv[1]))
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
