"""A child process of the stack: started with its output in log files, signalled, reaped.

Invariants: stdout and stderr go to ``<logdir>/stdout.log`` and ``<logdir>/stderr.log``,
appended across restarts; every wait is bounded; :meth:`ManagedProcess.stop` leaves no process
behind, even when it is cancelled (the process is then SIGKILLed). Children run in their own
session, so a Ctrl-C in the terminal reaches only the stack, which stops them in order; and
they are started through :mod:`.parentdeath`, so the kernel kills them if this process dies
without stopping them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from . import parentdeath

KILL_WAIT: Final = 5.0
TAIL_LINES: Final = 20
_POLL: Final = 0.02


class ProcessFailed(RuntimeError):
    """A child process exited (or never got ready) when it should be serving."""


class ManagedProcess:
    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        logdir: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        if not argv:
            raise ValueError(f"{name}: empty command")
        self.name = name
        self.argv = tuple(argv)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.stdout_path = logdir / "stdout.log"
        self.stderr_path = logdir / "stderr.log"
        logdir.mkdir(parents=True, exist_ok=True)
        self._process: asyncio.subprocess.Process | None = None
        self._stdout_start = 0
        self._stderr_start = 0

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def returncode(self) -> int | None:
        """The exit status once reaped (negative: killed by that signal); None while running."""
        return None if self._process is None else self._process.returncode

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self._stdout_start = _size(self.stdout_path)
        self._stderr_start = _size(self.stderr_path)
        with self.stdout_path.open("ab") as out, self.stderr_path.open("ab") as err:
            self._process = await asyncio.create_subprocess_exec(
                *parentdeath.wrap(self.argv),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )

    def send_signal(self, sig: signal.Signals) -> None:
        """Signal the process if it still runs (a no-op once it has exited)."""
        if self._process is not None and self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.send_signal(sig)

    async def wait(self, timeout: float) -> int:
        """The exit status; TimeoutError if the process still runs after ``timeout``."""
        if self._process is None:
            raise RuntimeError(f"{self.name} was never started")
        async with asyncio.timeout(timeout):
            return await self._process.wait()

    async def stop(self, grace: float) -> int | None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; returns the exit status (None if the
        process was never started)."""
        process = self._process
        if process is None:
            return None
        try:
            if process.returncode is None:
                self.send_signal(signal.SIGTERM)
                try:
                    return await self.wait(grace)
                except TimeoutError:
                    self.send_signal(signal.SIGKILL)
            return await self.wait(KILL_WAIT)
        finally:
            if process.returncode is None:
                self.send_signal(signal.SIGKILL)

    async def first_stdout_line(self, timeout: float) -> str:
        """The first line this run wrote to stdout (how servers announce their address);
        ProcessFailed if the process exits first, TimeoutError after ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    with self.stdout_path.open("rb") as out:
                        out.seek(self._stdout_start)
                        line = out.readline()
                    if line.endswith(b"\n"):
                        return line.decode().strip()
                    if not self.running:
                        raise ProcessFailed(self.describe_exit("before announcing itself"))
                    await asyncio.sleep(_POLL)
        except TimeoutError:
            raise TimeoutError(
                f"{self.name} printed nothing within {timeout}s; {self.stderr_tail()}"
            ) from None

    def stderr_of_this_run(self) -> str:
        """What the process wrote to stderr since its latest start."""
        try:
            with self.stderr_path.open("rb") as err:
                err.seek(self._stderr_start)
                return err.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def stderr_tail(self, lines: int = TAIL_LINES) -> str:
        tail = "\n".join(self.stderr_of_this_run().rstrip().splitlines()[-lines:])
        return f"stderr ({self.stderr_path}), last {lines} lines:\n{tail or '(empty)'}"

    def describe_exit(self, when: str) -> str:
        code = self.returncode
        how = (
            f"was killed by signal {-code}"
            if code is not None and code < 0
            else (f"exited with code {code}")
        )
        return f"{self.name} {how} {when}; {self.stderr_tail()}"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def inherited_environment(drop_prefixes: Sequence[str]) -> dict[str, str]:
    """This process's environment without variables starting with any of ``drop_prefixes``."""
    return {k: v for k, v in os.environ.items() if not k.startswith(tuple(drop_prefixes))}
