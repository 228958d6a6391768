"""Children started through ``parentdeath`` die with the process that started them, even when
it exits without stopping them."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
import pytest

from controller.sandbox.stack import parentdeath

pytestmark = pytest.mark.integration

# Starts `sleep 60` through the wrapper, waits until the wrapper armed the death signal and
# exec'd into sleep, prints its pid, and exits without stopping it (bounded by run's timeout).
ABANDON = """
import os, subprocess, time
from controller.sandbox.stack import parentdeath
child = subprocess.Popen(
    parentdeath.wrap(["sleep", "60"]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
)
while open(f"/proc/{child.pid}/cmdline", "rb").read().split(b"\\0")[0] != b"sleep":
    time.sleep(0.01)
print(child.pid, flush=True)
os._exit(0)
"""


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_the_child_is_killed_when_its_parent_exits() -> None:
    result = subprocess.run(
        [sys.executable, "-c", ABANDON], capture_output=True, text=True, timeout=30, check=True
    )
    pid = int(result.stdout)
    deadline = time.monotonic() + 10
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert gone(pid)
    finally:
        if not gone(pid):
            psutil.Process(pid).kill()


def test_usage_errors() -> None:
    assert parentdeath.main(["not-a-pid", "--", "true"]) == 2
    assert parentdeath.main(["1", "true"]) == 2
