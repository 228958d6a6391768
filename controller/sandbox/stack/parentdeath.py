"""``python -I -S parentdeath.py PARENT_PID -- COMMAND...``: run COMMAND so that the kernel
SIGKILLs it when the process that started it dies (Linux ``PR_SET_PDEATHSIG``, which survives
``execv``).

The stack starts every child through this, so nothing outlives a test run that was killed
without unwinding (``os._exit``, SIGKILL); orderly shutdown is still the stack's job. It runs as
a script on the standard library alone (no package import, no site), so it costs milliseconds.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Sequence
from typing import Final

PR_SET_PDEATHSIG: Final = 1


def wrap(argv: Sequence[str]) -> list[str]:
    """``argv`` run through this module on Linux; unchanged elsewhere."""
    if not sys.platform.startswith("linux"):
        return list(argv)
    return [sys.executable, "-I", "-S", __file__, str(os.getpid()), "--", *argv]


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--" or not argv[0].isdigit():
        print(f"usage: {__file__} PARENT_PID -- COMMAND...", file=sys.stderr)
        return 2
    parent, command = int(argv[0]), argv[2:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        print(f"prctl(PR_SET_PDEATHSIG): {os.strerror(ctypes.get_errno())}", file=sys.stderr)
        return 1
    if os.getppid() != parent:  # the parent died before the death signal was armed
        return 1
    os.execvp(command[0], command)  # noqa: S606 (argv as given, no shell)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
