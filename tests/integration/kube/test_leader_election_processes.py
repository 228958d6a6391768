"""Leader election across OS processes (``elector_process``) against the emulated API server:
SIGKILL of the holder, SIGTERM (graceful release), and a holder cut off by a partition. Times
are CLOCK_MONOTONIC, which every process on the host shares.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.integration.kube.conftest import KubeEndpoint
from tests.integration.kube.elector_process import LOST_EXIT
from tests.integration.kube.partition import PartitionableRelay, relayed_kubeconfig

pytestmark = pytest.mark.integration

L, D, R = 4.0, 3.0, 0.5
SLACK = 1.5  # process scheduling on a loaded 2-core machine
REPO = Path(__file__).resolve().parents[3]


class ElectorProcess:
    def __init__(self, identity: str, relay: PartitionableRelay, kubeconfig: Path) -> None:
        self.identity = identity
        self.relay = relay
        self.kubeconfig = kubeconfig
        self.lines: list[tuple[str, float]] = []
        self.process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self.killed_at: float | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.integration.kube.elector_process",
            str(self.kubeconfig),
            self.identity,
            str(L),
            str(D),
            str(R),
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        self._reader = asyncio.create_task(self._read())
        await self.wait_for("READY", 30)

    async def _read(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            word, _, stamp = raw.decode().strip().partition(" ")
            self.lines.append((word, float(stamp)))

    async def wait_for(self, word: str, timeout: float) -> float:
        async with asyncio.timeout(timeout):
            while True:
                for seen, stamp in self.lines:
                    if seen == word:
                        return stamp
                await asyncio.sleep(0.01)

    @property
    def leading(self) -> bool:
        words = [word for word, _ in self.lines]
        return "START" in words and "STOP" not in words and self.killed_at is None

    def intervals(self) -> list[tuple[float, float]]:
        starts = [t for w, t in self.lines if w == "START"]
        stops = [t for w, t in self.lines if w == "STOP"]
        end = stops[0] if stops else (self.killed_at or float("inf"))
        return [(starts[0], end)] if starts else []

    def signal(self, number: int) -> None:
        assert self.process is not None
        if number == signal.SIGKILL:
            self.killed_at = time.monotonic()
        self.process.send_signal(number)

    async def exit_code(self, timeout: float) -> int:
        assert self.process is not None
        async with asyncio.timeout(timeout):
            return await self.process.wait()

    async def close(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        if self._reader is not None:
            await self._reader


async def leader_among(electors: list[ElectorProcess], timeout: float) -> ElectorProcess:
    async with asyncio.timeout(timeout):
        while True:
            leaders = [e for e in electors if e.leading]
            if leaders:
                assert len(leaders) == 1, [e.identity for e in leaders]
                return leaders[0]
            await asyncio.sleep(0.01)


def start_of(elector: ElectorProcess) -> float:
    return elector.intervals()[0][0]


async def test_three_processes_kill_release_and_partition(
    apiserver: KubeEndpoint, kubeconfig: Path, tmp_path: Path
) -> None:
    async with (
        PartitionableRelay("127.0.0.1", apiserver.port) as r1,
        PartitionableRelay("127.0.0.1", apiserver.port) as r2,
        PartitionableRelay("127.0.0.1", apiserver.port) as r3,
        PartitionableRelay("127.0.0.1", apiserver.port) as r4,
    ):
        electors = [
            ElectorProcess(name, relay, relayed_kubeconfig(kubeconfig, relay, tmp_path / name))
            for name, relay in zip(("p1", "p2", "p3", "p4"), (r1, r2, r3, r4), strict=True)
        ]
        try:
            await asyncio.gather(*(e.start() for e in electors[:3]))
            first = await leader_among(electors, L + 2 * R + SLACK)
            await asyncio.sleep(3 * R)

            first.relay.cut()  # a dead host: no release possible
            first.signal(signal.SIGKILL)
            assert first.killed_at is not None
            second = await leader_among(electors, L + 2 * R + 2 * SLACK)
            assert start_of(second) - first.killed_at <= L + 1.2 * R + SLACK

            await asyncio.sleep(3 * R)
            released_at = time.monotonic()
            second.signal(signal.SIGTERM)  # graceful: work stops, then the Lease is released
            assert await second.exit_code(D + SLACK) == 0
            third = await leader_among(electors, 1.2 * R + 2 * SLACK)
            assert start_of(third) - released_at <= 1.2 * R + SLACK

            await electors[3].start()  # a fresh candidate to take over from the cut-off one
            await asyncio.sleep(3 * R)
            cut_at = time.monotonic()
            third.relay.cut()
            assert await third.exit_code(D + 2 * SLACK) == LOST_EXIT
            fourth = await leader_among(electors, L + 2 * R + 2 * SLACK)
            third_stop = third.intervals()[0][1]
            assert third_stop <= cut_at + D + 0.3
            assert third_stop < start_of(fourth)
            assert start_of(fourth) - cut_at >= L - R

            print(  # the measured numbers, for the benchmark notes (pytest -s)
                f"takeover after SIGKILL {start_of(second) - first.killed_at:.2f}s, "
                f"after SIGTERM {start_of(third) - released_at:.2f}s; cut-off leader stopped "
                f"{third_stop - cut_at:.2f}s after the cut, successor started "
                f"{start_of(fourth) - cut_at:.2f}s after it (L={L}, D={D}, R={R})"
            )
            spans = sorted(span for e in electors for span in e.intervals())
            assert len(spans) == 4
            for (_, end), (start, _) in itertools.pairwise(spans):
                assert end <= start, f"leader work overlapped: {spans}"
        finally:
            for elector in electors:
                elector.relay.heal()
            await asyncio.gather(*(e.close() for e in electors))
