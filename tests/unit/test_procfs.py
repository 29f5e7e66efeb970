"""rayline.procfs: a process's command line and stat fields, and nothing for a gone one."""

from __future__ import annotations

import os
import subprocess
import sys

from rayline import procfs

GONE = 2**22 + 1
"""Above Linux's pid_max: never a process."""


def test_argv_is_the_command_line_item_by_item_and_empty_for_a_gone_process() -> None:
    script = "import sys; print('up', flush=True); sys.stdin.read()"
    with subprocess.Popen(
        [sys.executable, "-c", script, "two words"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    ) as child:
        try:
            assert child.stdout is not None and child.stdout.readline() == b"up\n"  # running
            assert procfs.argv(child.pid) == [sys.executable, "-c", script, "two words"]
            assert procfs.command(child.pid) == f"{sys.executable} -c {script} two words"
            fields = procfs.stat(child.pid)
            assert fields is not None and fields[1] == str(os.getpid())  # its parent
        finally:
            child.communicate(b"")
    assert procfs.argv(GONE) == [] and procfs.command(GONE) == ""


def test_cpu_seconds_and_nice_read_a_process_and_none_for_a_gone_one() -> None:
    start = procfs.cpu_seconds(os.getpid())
    assert start is not None
    sum(i * i for i in range(300_000))  # some CPU work
    later = procfs.cpu_seconds(os.getpid())
    assert later is not None and later >= start
    assert procfs.nice(os.getpid()) == os.getpriority(os.PRIO_PROCESS, 0)
    assert (
        procfs.cpu_seconds(GONE) is None and procfs.nice(GONE) is None and procfs.stat(GONE) is None
    )
