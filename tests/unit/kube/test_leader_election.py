"""LeaderElector on virtual time against an in-memory Lease API with optimistic concurrency.

Virtual time makes the timing claims exact and the tests instant: when every task waits, the
loop jumps to the next timer. Intervals of leader work are recorded per elector and checked for
overlap, so "one leader at a time" is verified at every instant, not sampled. The fake server
also serves watches on the Lease (every write is delivered at once to each open watch).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import aiohttp
import pytest

from controller.clock import parse_rfc3339
from controller.kube.errors import (
    AlreadyExists,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    ServerError,
)
from controller.kube.leaderelection import WATCH_BACKOFF_CAP, LeaderElector, LeadershipLost
from controller.kube.resource import LEASES, Resource
from controller.kube.watchevents import WatchEvent
from controller.observability import metrics
from controller.observability.metrics import KUBE_METRICS
from tests.support.virtual_loop import run_virtual as virtual

T = TypeVar("T")
L, D, R = 15.0, 10.0, 2.0  # client-go defaults: lease duration, renew deadline, retry period
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class LoopClock:
    """The Clock protocol on the loop's (virtual) time; ``skew`` shifts the wall clock only."""

    def __init__(self, skew: float = 0.0) -> None:
        self.skew = skew

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    def now(self) -> datetime:
        return EPOCH + timedelta(seconds=self.monotonic() + self.skew)


def now() -> float:
    return asyncio.get_running_loop().time()


class LeaseServer:
    """Leases with resourceVersions: create fails if present, PUT needs the current RV."""

    def __init__(self) -> None:
        self.leases: dict[str, dict[str, Any]] = {}
        self.rv = 0
        self.writes: list[tuple[float, str, dict[str, Any]]] = []  # (time, writer, spec)
        self.watchers: list[asyncio.Queue[WatchEvent]] = []

    def api(self, writer: str) -> LeaseApi:
        return LeaseApi(self, writer)

    def spec(self) -> dict[str, Any]:
        return self.leases["ns/lock"]["spec"]  # type: ignore[no-any-return]

    def store(self, writer: str, body: dict[str, Any]) -> dict[str, Any]:
        self.rv += 1
        stored = copy.deepcopy(body)
        stored["metadata"]["resourceVersion"] = str(self.rv)
        self.leases["ns/lock"] = stored
        self.writes.append((now(), writer, copy.deepcopy(stored["spec"])))
        for watcher in self.watchers:
            watcher.put_nowait(WatchEvent("MODIFIED", copy.deepcopy(stored)))
        return copy.deepcopy(stored)


class LeaseApi:
    """One elector's connection: can be cut off (calls hang) or failing (500s)."""

    def __init__(self, server: LeaseServer, writer: str) -> None:
        self.server = server
        self.writer = writer
        self.reachable = asyncio.Event()
        self.reachable.set()
        self.failing = False
        self.lose_next_response = False  # the next PUT is applied, but its reply never comes
        self.gets = 0
        self.refuse_watch = False  # opening a watch answers 403
        self.break_watches = False  # open watches break (connection reset) at their next event
        self.watch_opens = 0

    async def _gate(self) -> None:
        await self.reachable.wait()
        if self.failing:
            raise ServerError(500, "InternalError", "injected")

    async def get(self, res: Resource, name: str, namespace: str | None = None) -> dict[str, Any]:
        self.gets += 1
        await self._gate()
        lease = self.server.leases.get(f"{namespace}/{name}")
        if lease is None:
            raise NotFound(404, "NotFound", "no lease")
        return copy.deepcopy(lease)

    async def create(
        self, res: Resource, body: dict[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        await self._gate()
        assert res == LEASES
        if "ns/lock" in self.server.leases:
            raise AlreadyExists(409, "AlreadyExists", "exists")
        return self.server.store(self.writer, body)

    @contextlib.asynccontextmanager
    async def watch(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        resource_version: str,
        timeout_seconds: int,
        field_selector: str | None = None,
        inactivity_timeout: float | None = None,
    ) -> AsyncIterator[AsyncIterator[WatchEvent]]:
        """Starts with the current Lease (ADDED) whatever ``resource_version`` says, then every
        write; a cut-off connection delivers nothing until healed."""
        assert (res, namespace, field_selector) == (LEASES, "ns", "metadata.name=lock")
        assert timeout_seconds > 0
        self.watch_opens += 1
        await self._gate()
        if self.refuse_watch:
            raise Forbidden(403, "Forbidden", "cannot watch leases")
        queue: asyncio.Queue[WatchEvent] = asyncio.Queue()
        if "ns/lock" in self.server.leases:
            queue.put_nowait(WatchEvent("ADDED", copy.deepcopy(self.server.leases["ns/lock"])))
        self.server.watchers.append(queue)
        try:
            yield self._events(queue)
        finally:
            self.server.watchers.remove(queue)

    async def _events(self, queue: asyncio.Queue[WatchEvent]) -> AsyncIterator[WatchEvent]:
        while True:
            event = await queue.get()
            await self.reachable.wait()
            if event.type == "ERROR":
                raise Gone(410, "Expired", "too old resource version")
            if self.break_watches or self.failing:
                raise aiohttp.ClientPayloadError("connection reset")
            yield event

    async def replace(
        self,
        res: Resource,
        body: dict[str, Any],
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        await self._gate()
        rv = body["metadata"].get("resourceVersion")
        if not rv:
            raise Invalid(422, "Invalid", "resourceVersion must be specified for an update")
        if rv != self.server.leases["ns/lock"]["metadata"]["resourceVersion"]:
            raise Conflict(409, "Conflict", "the object has been modified")
        stored = self.server.store(self.writer, body)
        if self.lose_next_response:
            self.lose_next_response = False
            await asyncio.Event().wait()
        return stored


class Candidate:
    """An elector plus a record of when its leader work ran."""

    def __init__(
        self, server: LeaseServer, identity: str, *, watch: bool = False, **timings: float
    ) -> None:
        self.identity = identity
        self.api = server.api(identity)
        self.clock = LoopClock()
        self.elector = LeaderElector(
            self.api,
            "ns",
            "lock",
            identity,
            lease_duration=timings.get("lease_duration", L),
            renew_deadline=timings.get("renew_deadline", D),
            retry_period=timings.get("retry_period", R),
            clock=self.clock,
            rng=random.Random(identity),
            watch=self.api if watch else None,
            metrics=KUBE_METRICS,
        )
        self.intervals: list[list[float]] = []
        self.task: asyncio.Task[None] | None = None
        self.outcome: BaseException | None = None

    async def work(self) -> None:
        self.intervals.append([now(), float("inf")])
        try:
            await asyncio.Event().wait()
        finally:
            self.intervals[-1][1] = now()

    def start(self, work: Callable[[], Awaitable[None]] | None = None) -> None:
        async def run() -> None:
            try:
                await self.elector.run(work or self.work)
            except LeadershipLost as exc:
                self.outcome = exc

        self.task = asyncio.create_task(run())

    async def stop(self) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    @property
    def leading(self) -> bool:
        return bool(self.intervals) and self.intervals[-1][1] == float("inf")


def assert_never_two_leaders(candidates: list[Candidate]) -> None:
    spans = sorted(span for c in candidates for span in c.intervals)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start, f"leader work overlapped: {spans}"


async def settle(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def a_then_b(server: LeaseServer, then: float) -> tuple[Candidate, Candidate]:
    """Candidate "a" starts first (and wins), "b" one second later; both run ``then`` more."""
    a, b = Candidate(server, "a"), Candidate(server, "b")
    a.start()
    await settle(1)
    b.start()
    await settle(then)
    return a, b


def test_first_candidate_creates_the_lease_and_renews_on_the_fast_path() -> None:
    async def main() -> None:
        server = LeaseServer()
        solo = Candidate(server, "a")
        slowpath = metrics.leader_slowpath.labels("lock")
        before = slowpath._value.get()
        solo.start()
        await settle(0.1)
        assert solo.leading
        assert solo.elector.is_leader
        assert solo.api.gets == 1  # one GET (404), then the create
        spec = server.spec()
        assert spec["holderIdentity"] == "a"
        assert spec["leaseDurationSeconds"] == 15
        assert spec["leaseTransitions"] == 0
        assert spec["acquireTime"] == "2026-01-01T00:00:00.000000Z"
        await settle(60)
        assert solo.api.gets == 1  # renewals are conditional PUTs from the cached Lease
        assert slowpath._value.get() == before
        renewed = parse_rfc3339(server.spec()["renewTime"])
        assert renewed >= EPOCH + timedelta(seconds=58)
        assert server.spec()["acquireTime"] == spec["acquireTime"]
        assert metrics.leader_status.labels("lock")._value.get() == 1
        await solo.stop()
        assert metrics.leader_status.labels("lock")._value.get() == 0

    virtual(main())


def test_three_candidates_one_leader_and_takeover_after_the_holder_dies() -> None:
    async def main() -> None:
        server = LeaseServer()
        candidates = [Candidate(server, name) for name in ("a", "b", "c")]
        for candidate in candidates:
            candidate.start()
        await settle(30)
        leaders = [c for c in candidates if c.leading]
        assert len(leaders) == 1
        dead = leaders[0]
        killed_at = now()
        dead.api.reachable.clear()  # the process dies: no more calls, no release
        await dead.stop()
        await settle(L + 2 * R)
        successors = [c for c in candidates if c.leading]
        assert len(successors) == 1
        takeover = successors[0].intervals[-1][0] - killed_at
        assert takeover <= L + R * 1.2 + 0.01
        assert server.spec()["leaseTransitions"] == 1
        assert server.spec()["holderIdentity"] == successors[0].identity
        assert_never_two_leaders(candidates)

    virtual(main())


def test_graceful_stop_releases_after_the_work_ends_and_hands_over_fast() -> None:
    async def main() -> None:
        server = LeaseServer()
        a, b = await a_then_b(server, 10)
        assert a.leading
        assert not b.leading
        stopped_at = now()
        await a.stop()
        release = next(w for w in server.writes if w[1] == "a" and w[2]["holderIdentity"] == "")
        assert release[0] >= a.intervals[-1][1]  # the work had ended before the release
        assert release[2]["leaseDurationSeconds"] == 1
        await settle(3 * R)
        assert b.leading
        assert b.intervals[0][0] - stopped_at <= R * 1.2 + 0.01
        assert server.spec()["leaseTransitions"] == 1
        assert_never_two_leaders([a, b])

    virtual(main())


def test_release_succeeds_after_a_renewal_cancelled_in_flight_was_applied() -> None:
    async def main() -> None:
        server = LeaseServer()
        a, b = await a_then_b(server, 2)
        a.api.lose_next_response = True  # the renewal at t=4 lands, its reply is lost
        await settle(1.5)
        stopped_at = now()
        await a.stop()  # the release meets a 409 first: re-read, still ours, release
        assert server.spec()["holderIdentity"] == ""
        await settle(3 * R)
        assert b.leading
        assert b.intervals[0][0] - stopped_at <= R * 1.2 + 0.01

    virtual(main())


def test_a_cut_off_leader_stops_before_anyone_could_take_over() -> None:
    async def main() -> None:
        server = LeaseServer()
        a, b = await a_then_b(server, 7.3)
        last_renewal = max(t for t, writer, _ in server.writes if writer == "a")
        a.api.reachable.clear()  # requests hang: a half-open connection
        await settle(L + 3 * R)
        assert isinstance(a.outcome, LeadershipLost)
        assert not a.elector.is_leader
        a_end = a.intervals[-1][1]
        assert a_end <= last_renewal + D + 0.01
        assert b.leading
        assert a_end < last_renewal + L <= b.intervals[0][0]
        assert_never_two_leaders([a, b])

    virtual(main())


def test_short_api_trouble_is_ridden_out_long_trouble_loses_the_lease() -> None:
    async def main() -> None:
        server = LeaseServer()
        a = Candidate(server, "a")
        a.start()
        await settle(1)
        a.api.failing = True
        await settle(D - 2 * R - 0.5)  # ends before the last retry inside the deadline
        a.api.failing = False
        await settle(2 * R)
        assert a.leading
        assert a.outcome is None
        a.api.failing = True
        await settle(D + R)
        assert isinstance(a.outcome, LeadershipLost)
        assert not a.leading

    virtual(main())


def test_a_stolen_lease_is_given_up_at_the_next_renewal() -> None:
    async def main() -> None:
        server = LeaseServer()
        a = Candidate(server, "a")
        a.start()
        await settle(5)
        thief = copy.deepcopy(server.leases["ns/lock"])
        thief["spec"]["holderIdentity"] = "intruder"
        server.store("intruder", thief)
        stolen_at = now()
        await settle(2 * R)
        assert isinstance(a.outcome, LeadershipLost)
        assert "intruder" in str(a.outcome)
        assert a.intervals[-1][1] <= stolen_at + R + 0.01

    virtual(main())


def test_expiry_ignores_the_holders_clock() -> None:
    """A record whose renewTime is years old still counts as live for a full lease duration
    after it was first seen (clock skew between hosts must not let a candidate jump in)."""

    async def main() -> None:
        server = LeaseServer()
        stale = {
            "metadata": {"name": "lock", "namespace": "ns"},
            "spec": {
                "holderIdentity": "ghost",
                "leaseDurationSeconds": 15,
                "acquireTime": "2000-01-01T00:00:00.000000Z",
                "renewTime": "2000-01-01T00:00:00.000000Z",
                "leaseTransitions": 4,
            },
        }
        server.store("ghost", stale)
        a = Candidate(server, "a")
        a.start()
        await settle(L - 0.5)
        assert not a.leading
        await settle(R * 1.2 + 1)
        assert a.leading
        assert L <= a.intervals[0][0] <= L + R * 1.2 + 0.01
        assert server.spec()["leaseTransitions"] == 5

    virtual(main())


def test_work_that_returns_releases_and_work_that_fails_propagates() -> None:
    async def main() -> None:
        server = LeaseServer()
        a = Candidate(server, "a")

        async def brief() -> None:
            await asyncio.sleep(3)

        await a.elector.run(brief)
        assert server.spec()["holderIdentity"] == ""

        async def broken() -> None:
            await asyncio.sleep(1)
            raise RuntimeError("leader work bug")

        with pytest.raises(RuntimeError, match="leader work bug"):
            await a.elector.run(broken)
        assert server.spec()["holderIdentity"] == ""
        assert server.spec()["leaseTransitions"] == 1  # a released lease re-taken counts

    virtual(main())


def test_health_fails_when_the_leader_stops_renewing() -> None:
    async def main() -> None:
        server = LeaseServer()
        a = Candidate(server, "a")
        assert a.elector.healthy()
        a.start()
        await settle(1)
        assert a.elector.healthy(tolerance=5)
        a.clock.monotonic = lambda: now() + L + 6  # type: ignore[method-assign]
        assert not a.elector.healthy(tolerance=5)
        assert not a.elector.is_leader
        await a.stop()

    virtual(main())


@pytest.mark.parametrize("watch", [False, True])
def test_randomised_outages_never_produce_two_leaders(watch: bool) -> None:
    async def main() -> None:
        server = LeaseServer()
        rng = random.Random(42)
        candidates = [Candidate(server, name, watch=watch, retry_period=1.0) for name in "abcd"]
        for candidate in candidates:
            candidate.start()
        for _ in range(150):
            await settle(rng.uniform(0.1, 4.0))
            victim = rng.choice(candidates)
            action = rng.random()
            if action < 0.3:
                victim.api.reachable.clear()
            elif action < 0.6:
                victim.api.reachable.set()
                victim.api.failing = False
                victim.api.break_watches = False
            elif action < 0.7:
                victim.api.failing = not victim.api.failing
            elif action < 0.8:
                victim.api.break_watches = not victim.api.break_watches
            elif victim.task is not None and victim.task.done():
                victim.start()
        for candidate in candidates:
            candidate.api.reachable.set()
            candidate.api.failing = False
            candidate.api.break_watches = False
            if candidate.task is not None and candidate.task.done():
                candidate.start()
        await settle(3 * L)
        assert sum(c.leading for c in candidates) == 1
        assert_never_two_leaders(candidates)
        assert len(server.writes) > 100

    virtual(main())


@pytest.mark.parametrize(
    ("lease", "renew", "retry", "message"),
    [
        (10.0, 10.0, 2.0, "lease_duration"),
        (15.0, 2.4, 2.0, "1.2 x retry_period"),
        (15.0, 10.0, 0.0, "retry_period"),
    ],
)
def test_timings_are_validated(lease: float, renew: float, retry: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LeaderElector(
            LeaseServer().api("a"),
            "ns",
            "lock",
            "a",
            lease_duration=lease,
            renew_deadline=renew,
            retry_period=retry,
        )


def test_identity_is_required() -> None:
    with pytest.raises(ValueError, match="identity"):
        LeaderElector(LeaseServer().api("a"), "ns", "lock", "")


# --- observing through a watch --------------------------------------------------------------


async def takeover_after_kill(
    server: LeaseServer, candidates: list[Candidate], kill_after: float
) -> tuple[Candidate, float]:
    """Lets the candidates elect, kills the leader ``kill_after`` seconds after one of its
    renewals, and returns the successor and how long after that last renewal it took over."""
    for candidate in candidates:
        candidate.start()
    await settle(3 * R)
    leader = next(c for c in candidates if c.leading)
    renewals = len([w for w in server.writes if w[1] == leader.identity])
    while len([w for w in server.writes if w[1] == leader.identity]) == renewals:
        await settle(0.001)
    await settle(kill_after)
    leader.api.reachable.clear()  # the process dies: no more calls, no release
    await leader.stop()
    last_renewal = max(t for t, writer, _ in server.writes if writer == leader.identity)
    await settle(L + 2 * R)
    successor = next(c for c in candidates if c.leading)
    assert_never_two_leaders(candidates)
    return successor, successor.intervals[-1][0] - last_renewal


@pytest.mark.parametrize("kill_after", [0.0, 0.3, 0.9, 1.5, 1.99])
def test_a_watching_candidate_takes_over_as_soon_as_the_dead_holders_lease_expires(
    kill_after: float,
) -> None:
    """The last renewal is seen through the watch when it is written, not at the next poll:
    takeover comes right at lease_duration after it, whatever the poll phase (R is 2 s)."""

    async def main() -> None:
        server = LeaseServer()
        candidates = [Candidate(server, name, watch=True) for name in "abc"]
        successor, takeover = await takeover_after_kill(server, candidates, kill_after)
        assert L <= takeover <= L + 0.01
        assert successor.api.watch_opens >= 1
        assert server.spec()["holderIdentity"] == successor.identity

    virtual(main())


def test_without_a_watch_the_last_renewal_is_seen_only_at_the_next_poll() -> None:
    """The contrast: the same kills with polls alone take over up to 1.2 R later."""

    async def main() -> list[float]:
        late: list[float] = []
        for kill_after in (0.0, 0.3, 0.9, 1.5, 1.99):
            server = LeaseServer()
            candidates = [Candidate(server, name) for name in "abc"]
            _, takeover = await takeover_after_kill(server, candidates, kill_after)
            assert L <= takeover <= L + 1.2 * R + 0.01
            late.append(takeover - L)
            for candidate in candidates:
                await candidate.stop()
        return late

    assert max(virtual(main())) > 0.1


def test_a_release_seen_through_the_watch_hands_over_at_once() -> None:
    async def main() -> None:
        server = LeaseServer()
        a, b = Candidate(server, "a", watch=True), Candidate(server, "b", watch=True)
        a.start()
        await settle(1)
        b.start()
        await settle(10)
        stopped_at = now()
        await a.stop()
        await settle(0.01)
        assert b.leading
        assert b.intervals[0][0] - stopped_at <= 0.001
        assert_never_two_leaders([a, b])

    virtual(main())


def test_a_refused_watch_leaves_the_polls_in_charge() -> None:
    """403 on every watch: retried with a backoff, never fatal, and takeover still comes
    within lease_duration + 1.2 retry periods of the kill."""

    async def main() -> None:
        server = LeaseServer()
        candidates = [Candidate(server, name, watch=True) for name in "abc"]
        for candidate in candidates:
            candidate.api.refuse_watch = True
        successor, takeover = await takeover_after_kill(server, candidates, 0.0)
        assert takeover <= L + 1.2 * R + 0.01
        opens = successor.api.watch_opens
        assert 2 <= opens <= 10  # retried, with a backoff (~10 s in)
        assert all(c.outcome is None for c in candidates)
        await settle(120)
        assert successor.leading
        assert successor.api.watch_opens - opens <= 10  # capped backoff, no hot loop

    virtual(main())


@pytest.mark.parametrize("trouble", ["broken", "gone"])
def test_a_watch_that_breaks_is_reopened_and_serves_again(trouble: str) -> None:
    async def main() -> None:
        server = LeaseServer()
        a, b = Candidate(server, "a", watch=True), Candidate(server, "b", watch=True)
        a.start()
        await settle(1)
        b.start()
        await settle(5)
        opens = b.api.watch_opens
        if trouble == "broken":
            b.api.break_watches = True  # the next event (a's renewal) resets the connection
            await settle(R + 0.1)
            b.api.break_watches = False
        else:
            for watcher in server.watchers:  # an ERROR event (410) on every open watch
                watcher.put_nowait(WatchEvent("ERROR", {"metadata": {}}))
        await settle(WATCH_BACKOFF_CAP)
        assert b.api.watch_opens > opens
        assert b.outcome is None
        # Served again: a kill right after a renewal is taken over right at expiry.
        renewals = len(server.writes)
        while len(server.writes) == renewals:
            await settle(0.001)
        a.api.reachable.clear()
        await a.stop()
        last_renewal = max(t for t, writer, _ in server.writes if writer == "a")
        await settle(L + 1)
        assert b.leading
        assert b.intervals[0][0] - last_renewal <= L + 0.01

    virtual(main())
