"""Three electors in one process against the emulated API server, each behind its own
partitionable relay and watching the Lease like the controller: one leader at a time, takeover
after a kill, hand-over after a graceful stop, a cut-off leader that stops its work before
anyone else could start, and polls taking over when the watch is refused.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controller.kube.client import KubeClient
from controller.kube.leaderelection import LeaderElector, LeadershipLost
from tests.integration.kube.conftest import KubeEndpoint
from tests.integration.kube.partition import PartitionableRelay, relayed_kubeconfig

pytestmark = pytest.mark.integration

L, D, R = 3.0, 2.0, 0.5
SLACK = 1.0  # scheduling noise on a loaded 2-core machine; the bounds themselves are exact


class Candidate:
    def __init__(self, identity: str, relay: PartitionableRelay, client: KubeClient) -> None:
        self.identity = identity
        self.relay = relay
        self.client = client
        self.elector = LeaderElector(
            client,
            "default",
            "in-process-election",
            identity,
            lease_duration=L,
            renew_deadline=D,
            retry_period=R,
            watch=client,
        )
        self.intervals: list[list[float]] = []
        self.outcome: BaseException | None = None
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            await self.elector.run(self._work)
        except LeadershipLost as exc:
            self.outcome = exc

    async def _work(self) -> None:
        self.intervals.append([time.monotonic(), float("inf")])
        try:
            await asyncio.Event().wait()
        finally:
            self.intervals[-1][1] = time.monotonic()

    @property
    def leading(self) -> bool:
        return bool(self.intervals) and self.intervals[-1][1] == float("inf")

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


@pytest.fixture
async def candidates(
    apiserver: KubeEndpoint, kubeconfig: Path, tmp_path: Path
) -> AsyncIterator[list[Candidate]]:
    started: list[Candidate] = []
    async with (
        PartitionableRelay("127.0.0.1", apiserver.port) as r1,
        PartitionableRelay("127.0.0.1", apiserver.port) as r2,
        PartitionableRelay("127.0.0.1", apiserver.port) as r3,
    ):
        for name, relay in zip("abc", (r1, r2, r3), strict=True):
            path = relayed_kubeconfig(kubeconfig, relay, tmp_path / f"kubeconfig-{name}")
            client = await KubeClient.from_kubeconfig(str(path), timeout=D)
            started.append(Candidate(name, relay, client))
        yield started
        for candidate in started:
            candidate.relay.heal()
            await candidate.stop()
            await candidate.client.close()


async def leader_among(candidates: list[Candidate], timeout: float) -> Candidate:
    async with asyncio.timeout(timeout):
        while True:
            leaders = [c for c in candidates if c.leading]
            if leaders:
                return leaders[0]
            await asyncio.sleep(0.01)


def assert_never_two_leaders(candidates: list[Candidate]) -> None:
    spans = sorted(span for c in candidates for span in c.intervals)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start, f"leader work overlapped: {spans}"


@pytest.mark.parametrize(
    "watch",
    ["served", pytest.param("refused", marks=pytest.mark.emulator_only("a refused Lease watch"))],
)
async def test_takeover_after_the_leader_is_killed(
    apiserver: KubeEndpoint, candidates: list[Candidate], watch: str
) -> None:
    if watch == "refused":
        apiserver.faults.set_error("watch", "leases.coordination.k8s.io", 1.0, status=403)
    first = await leader_among(candidates, L + 2 * R + SLACK)
    await asyncio.sleep(2 * R)  # some renewals
    killed_at = time.monotonic()
    first.relay.cut()  # no release can get through: like a killed process
    await first.stop()
    others = [c for c in candidates if c is not first]
    second = await leader_among(others, L + 2 * R + 2 * SLACK)
    takeover = second.intervals[-1][0] - killed_at
    # Served: the last renewal was seen when written, takeover comes at its expiry.
    assert takeover <= (L if watch == "served" else L + 1.2 * R) + SLACK
    assert all(c.outcome is None for c in candidates)
    assert_never_two_leaders(candidates)


async def test_graceful_stop_hands_over_within_a_retry_period(
    candidates: list[Candidate],
) -> None:
    first = await leader_among(candidates, L + 2 * R + SLACK)
    await asyncio.sleep(2 * R)
    stopped_at = time.monotonic()
    await first.stop()
    second = await leader_among([c for c in candidates if c is not first], L + 2 * R)
    assert second.intervals[-1][0] - stopped_at <= 1.2 * R + SLACK
    assert_never_two_leaders(candidates)


async def test_a_cut_off_leader_stops_before_its_lease_expires_for_others(
    candidates: list[Candidate],
) -> None:
    first = await leader_among(candidates, L + 2 * R + SLACK)
    await asyncio.sleep(2 * R)
    cut_at = time.monotonic()
    first.relay.cut()
    second = await leader_among([c for c in candidates if c is not first], L + 2 * R + 2 * SLACK)
    await first.task
    assert isinstance(first.outcome, LeadershipLost)
    stopped = first.intervals[-1][1]
    assert stopped <= cut_at + D + 0.2  # its last renewal was sent before the cut
    assert stopped < second.intervals[-1][0]
    assert second.intervals[-1][0] - cut_at >= L - R  # others waited for the lease to lapse
    assert_never_two_leaders(candidates)
