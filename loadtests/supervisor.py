"""What the kubelet does for the harness: replicas that exit are started again, and the leader
can be killed on purpose.

Invariants: a replica is restarted ``delay`` seconds after its exit was noticed, on new ports,
without waiting for it to be ready; every exit is recorded with its status, and exits of
processes the harness killed (:meth:`Supervisor.kill_leader`) are told apart from the others,
which are findings (a replica that lost its Lease exits 1 by design; anything else is a crash).
Before a kill the process sampler and the metrics scraper take a last look at the victim.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final, NoReturn

from controller.sandbox.stack import Replica, Stack

from .audit import Check
from .sampling import ProcessSampler, ReplicaMetrics

_INTERVAL: Final = 0.2


@dataclass(frozen=True, slots=True)
class Exit:
    replica: str
    pid: int
    returncode: int | None
    planned: bool


class Supervisor:
    def __init__(
        self,
        stack: Stack,
        sampler: ProcessSampler,
        metrics: ReplicaMetrics,
        *,
        delay: float = 1.0,
    ) -> None:
        self._stack = stack
        self._sampler = sampler
        self._metrics = metrics
        self._delay = delay
        self._planned: set[int] = set()
        self._seen: set[int] = set()
        self.exits: list[Exit] = []

    @property
    def kills(self) -> int:
        return sum(1 for e in self.exits if e.planned)

    def unplanned(self) -> list[Exit]:
        return [e for e in self.exits if not e.planned]

    def unplanned_check(self, name: str) -> Check:
        """Passes when every exit was a kill the harness made."""
        unplanned = self.unplanned()
        listed = ", ".join(f"{e.replica} ({e.returncode})" for e in unplanned)
        return Check(
            name,
            not unplanned,
            f"{len(unplanned)} unplanned exits" + (f": {listed}" if unplanned else ""),
        )

    async def run(self) -> NoReturn:
        async with asyncio.TaskGroup() as restarts:
            while True:
                for replica in self._stack.replicas:
                    pid = replica.pid
                    if pid is None or replica.running or pid in self._seen:
                        continue
                    self._seen.add(pid)
                    self.exits.append(
                        Exit(replica.name, pid, replica.returncode, pid in self._planned)
                    )
                    restarts.create_task(self._restart(replica))
                await asyncio.sleep(_INTERVAL)

    async def _restart(self, replica: Replica) -> None:
        await asyncio.sleep(self._delay)
        await replica.start(ready=False)

    async def kill_leader(self) -> Replica | None:
        """SIGKILL the replica holding the Lease, if one is running; returns it."""
        leader = await self._stack.leader()
        if leader is None or not leader.running or leader.pid is None:
            return None
        self._sampler.sample()
        await self._metrics.scrape_all()
        self._planned.add(leader.pid)
        await leader.kill()
        return leader
