"""DraftSearches: lost-draft searches of one account share a listing, never a stale one."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.issuer.controllers.drafts import ATTR_SERVED_BY, DraftSearches
from controller.observability import tracing
from controller.zerossl.csrhashes import CsrHashes
from controller.zerossl.errors import ErrorKind, ZeroSSLError
from controller.zerossl.models import Certificate, CertificatePage, CertificateStatus
from tests.unit.issuer.factories import zerossl_json

LISTING = None  # the search term of an account-wide listing


def hashes(n: int) -> CsrHashes:
    return CsrHashes(f"{n:032X}", f"{n:064X}")


def draft(n: int, status: str = "draft") -> dict[str, Any]:
    """Certificate ``c<n>`` for ``n<n>.example.com``, created from CSR ``hashes(n)``."""
    csr = hashes(n)
    return zerossl_json(f"c{n}", status, (f"n{n}.example.com",), csr.md5, csr.sha256)


@dataclass(eq=False)
class FakeAccount:
    """ZeroSSL's list endpoint over one account's certificates, newest first. A call answers
    with the certificates there when it arrived (what is created later is not in it), logged
    as (search, page). ``fail`` makes the next call raise; while ``held`` each call waits
    for its gate (:func:`release`) before answering; the certificates in ``leaving`` leave
    the set as page 2 is read."""

    certificates: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str | None, int]] = field(default_factory=list)
    held: bool = False
    gates: list[asyncio.Event] = field(default_factory=list)
    fail: bool = False
    leaving: set[str] = field(default_factory=set)
    traced: bool = False  # each call is a span, as the real client's are
    reads: list[str] = field(default_factory=list)  # ids read one by one (get_certificate)
    finished: dict[str, str] = field(default_factory=dict)  # id -> status it moved on to

    def add(self, *numbers: int) -> None:
        for n in numbers:
            self.certificates.insert(0, draft(n))

    async def list_certificates(
        self,
        statuses: Collection[CertificateStatus],
        *,
        search: str | None = None,
        page: int = 1,
        limit: int = 100,
    ) -> CertificatePage:
        assert set(statuses) == {CertificateStatus.DRAFT, CertificateStatus.PENDING_VALIDATION}
        if self.traced:
            with tracing.start_span("zerossl.list"):
                return await self._list(search, page, limit)
        return await self._list(search, page, limit)

    def add_twin(self, n: int, certificate_id: str) -> None:
        """Another certificate of CSR ``hashes(n)`` (a second order made from one key)."""
        self.certificates.insert(0, {**draft(n), "id": certificate_id})

    async def get_certificate(self, certificate_id: str) -> Certificate:
        """A certificate as it is now: unfinished, or the status it moved on to."""
        self.reads.append(certificate_id)
        (found,) = [c for c in self.certificates if c["id"] == certificate_id]
        status = self.finished.get(certificate_id, found["status"])
        return Certificate.from_json({**found, "status": status})

    async def _list(self, search: str | None, page: int, limit: int) -> CertificatePage:
        self.calls.append((search, page))
        if self.fail:
            self.fail = False
            raise ZeroSSLError(ErrorKind.RETRYABLE, endpoint="list", message="timed out")
        if page == 2:
            self.certificates = [c for c in self.certificates if c["id"] not in self.leaving]
        found = [c for c in self.certificates if search is None or search in c["common_name"]]
        body = {"total_count": len(found), "results": found[(page - 1) * limit : page * limit]}
        answer = CertificatePage.from_json(body, page=page, limit=limit)
        if self.held:
            gate = asyncio.Event()
            self.gates.append(gate)
            await gate.wait()
        return answer


@contextlib.asynccontextmanager
async def running(drafts: DraftSearches | None = None) -> AsyncIterator[DraftSearches]:
    """Runs ``drafts`` (by default one that never takes a snapshot: the freshness rule alone)."""
    drafts = drafts or DraftSearches(grace=math.inf)
    task = asyncio.create_task(drafts.run())
    try:
        yield drafts
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def settle(condition: Any = lambda: False, rounds: int = 50) -> None:
    """Lets the loop run until ``condition()`` (or for ``rounds`` turns)."""
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0)


def find(drafts: DraftSearches, account: FakeAccount, n: int) -> asyncio.Task[Certificate | None]:
    return asyncio.create_task(drafts.find(account, f"n{n}.example.com", hashes(n), f"o{n}"))


def ids(results: list[Certificate | None]) -> list[str | None]:
    return [c.id if c else None for c in results]


async def busy(drafts: DraftSearches, account: FakeAccount) -> asyncio.Task[Certificate | None]:
    """A lone search (its own call), held in flight: the next searches gather behind it."""
    account.held = True
    first = find(drafts, account, 0)
    await settle(lambda: account.gates)
    return first


def release(account: FakeAccount, *, hold_next: bool = False) -> None:
    """Lets the held calls answer; with ``hold_next`` the calls to come are held in turn."""
    assert account.gates
    account.held = hold_next
    for gate in account.gates:
        gate.set()
    account.gates.clear()


async def test_a_lone_search_is_one_call_by_common_name() -> None:
    account = FakeAccount()
    account.add(1, 2)
    async with running() as drafts:
        found = await drafts.find(account, "n1.example.com", hashes(1), "o1")
    assert ids([found]) == ["c1"]
    assert account.calls == [("n1.example.com", 1)]


async def test_searches_waiting_together_share_one_listing() -> None:
    account = FakeAccount()
    account.add(1, 2, 3)
    async with running() as drafts:
        first = await busy(drafts, account)
        waiting = [find(drafts, account, n) for n in (1, 2, 3, 4)]
        await settle()
        release(account)
        results = await asyncio.gather(first, *waiting)
    assert ids(results) == [None, "c1", "c2", "c3", None]
    assert account.calls == [("n0.example.com", 1), (LISTING, 1)]


async def test_a_search_asked_during_a_listing_waits_for_the_next_one() -> None:
    """The draft of a create that was lost just before the search was asked for appears after
    the running listing started: joining that listing would miss it and create a duplicate."""
    account = FakeAccount()
    async with running() as drafts:
        first = await busy(drafts, account)
        gathered = [find(drafts, account, n) for n in (1, 2)]
        await settle()
        release(account, hold_next=True)
        await settle(lambda: account.gates)
        assert account.calls[-1] == (LISTING, 1)  # running, held

        account.add(5)  # a create of order 5 reaches ZeroSSL, its answer is lost
        late = find(drafts, account, 5)  # then order 5 searches
        await settle()
        release(account)
        results = await asyncio.gather(first, *gathered, late)
    assert ids(results) == [None, None, None, "c5"]
    assert account.calls == [("n0.example.com", 1), (LISTING, 1), ("n5.example.com", 1)]


operations = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["lost", "search"]), st.integers(1, 6)),
        st.just(("answer", 0)),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(operations)
def test_a_search_sees_every_draft_created_before_it_was_asked(
    plan: list[tuple[str, int]],
) -> None:
    """Orders search, some right after a create that reached ZeroSSL and whose answer was
    lost ("lost"), while held calls are answered one at a time, in any order: whatever batch
    a search joins, it finds the draft of every create made before it was asked."""
    asyncio.run(play(plan))


async def play(plan: list[tuple[str, int]]) -> None:
    account = FakeAccount(held=True)
    searches: list[tuple[int, bool, asyncio.Task[Certificate | None]]] = []
    async with running() as drafts:
        for operation, n in plan:
            exists = f"c{n}" in {c["id"] for c in account.certificates}
            if operation == "answer":
                if account.gates:
                    account.gates.pop(0).set()
            else:
                if operation == "lost" and not exists:
                    account.add(n)
                    exists = True
                searches.append((n, exists, find(drafts, account, n)))
            await settle()
        while not all(task.done() for _, _, task in searches):
            if account.gates:
                release(account, hold_next=True)
            await settle(rounds=1)
    for n, existed, task in searches:
        found = task.result()
        assert found is None or found.id == f"c{n}"
        if existed:
            assert found is not None, f"search {n} missed a draft created before it"


async def test_a_listing_reads_every_page_and_learns_what_it_costs() -> None:
    account = FakeAccount()
    account.add(*range(1, 2501))  # three pages of 1000; c1 is on the last
    async with running() as drafts:
        first = await busy(drafts, account)
        waiting = [find(drafts, account, n) for n in (1, 1500, 2500, 9999)]
        await settle()
        release(account)
        results = await asyncio.gather(first, *waiting)
        assert ids(results) == [None, "c1", "c1500", "c2500", None]
        assert account.calls[1:] == [(LISTING, 1), (LISTING, 2), (LISTING, 3)]

        # Three searches cost three calls either way: each makes its own.
        account.calls.clear()
        first = await busy(drafts, account)
        three = [find(drafts, account, n) for n in (1, 2, 3)]
        await settle()
        release(account)
        await asyncio.gather(first, *three)
        assert [search for search, _ in account.calls] == [
            f"n{n}.example.com" for n in (0, 1, 2, 3)
        ]

        # Four save a call: one listing again.
        account.calls.clear()
        first = await busy(drafts, account)
        four = [find(drafts, account, n) for n in (1, 2, 3, 4)]
        await settle()
        release(account)
        await asyncio.gather(first, *four)
        assert account.calls[1:] == [(LISTING, 1), (LISTING, 2), (LISTING, 3)]


async def test_a_listing_whose_total_moved_between_pages_is_not_trusted() -> None:
    """A certificate that left the first page while the second was read shifts c1, alone on
    page 2, onto page 1: the listing misses it, the changed total gives that away, and each
    search makes its own call."""
    account = FakeAccount()
    account.add(*range(1, 1002))
    account.leaving = {"c1001"}  # issued meanwhile
    async with running() as drafts:
        first = await busy(drafts, account)
        waiting = [find(drafts, account, n) for n in (1, 2, 3)]
        await settle()
        release(account)
        results = await asyncio.gather(first, *waiting)
    assert ids(results) == [None, "c1", "c2", "c3"]
    assert account.calls[1:3] == [(LISTING, 1), (LISTING, 2)]
    assert sorted(account.calls[3:]) == [(f"n{n}.example.com", 1) for n in (1, 2, 3)]


async def test_a_failed_listing_fails_its_searches_and_the_next_search_retries() -> None:
    account = FakeAccount()
    account.add(1)
    async with running() as drafts:
        first = await busy(drafts, account)
        waiting = [find(drafts, account, n) for n in (1, 2)]
        await settle()
        account.fail = True  # the listing (the held call has passed the check)
        release(account)
        assert await first is None
        for task in waiting:
            with pytest.raises(ZeroSSLError) as caught:
                await task
            assert caught.value.kind is ErrorKind.RETRYABLE
        found = await drafts.find(account, "n1.example.com", hashes(1), "o1")
    assert ids([found]) == ["c1"]
    assert account.calls == [("n0.example.com", 1), (LISTING, 1), ("n1.example.com", 1)]


async def test_an_order_that_gives_up_leaves_the_listing_to_the_others() -> None:
    account = FakeAccount()
    account.add(1, 2)
    async with running() as drafts:
        first = await busy(drafts, account)
        waiting = [find(drafts, account, n) for n in (1, 2, 3)]
        await settle()
        release(account, hold_next=True)
        await settle(lambda: account.gates)  # the listing is running
        waiting[0].cancel()
        await settle()
        release(account)
        results = await asyncio.gather(first, waiting[1], waiting[2])
        assert waiting[0].cancelled()
    assert ids(results) == [None, "c2", None]
    assert account.calls == [("n0.example.com", 1), (LISTING, 1)]


async def test_stopping_cancels_every_search_and_flight() -> None:
    account = FakeAccount()
    drafts = DraftSearches(grace=math.inf)
    runner = asyncio.create_task(drafts.run())
    first = await busy(drafts, account)
    queued = find(drafts, account, 1)
    await settle()
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    for task in (first, queued):
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_listing_links_the_searches_it_served_and_a_search_call_joins_its_order() -> None:
    exporter = tracing.install_in_memory_exporter()
    exporter.clear()
    account = FakeAccount(traced=True)
    account.add(1)

    async def order(n: int) -> Certificate | None:
        with tracing.start_span(f"reconcile.order-{n}"):
            return await drafts.find(account, f"n{n}.example.com", hashes(n), f"o{n}")

    async with running() as drafts:
        account.held = True
        first = asyncio.create_task(order(0))
        await settle(lambda: account.gates)
        waiting = [asyncio.create_task(order(n)) for n in (1, 2)]
        await settle()
        release(account)
        await asyncio.gather(first, *waiting)

    finished = exporter.get_finished_spans()
    searches = [s for s in finished if s.name == "zerossl.draft_search"]
    served_by = {
        how: {s.context.span_id for s in searches if (s.attributes or {})[ATTR_SERVED_BY] == how}
        for how in ("search", "listing")
    }
    assert [len(served_by["search"]), len(served_by["listing"])] == [1, 2]
    orders = {s.context.span_id for s in finished if s.name.startswith("reconcile.order")}
    assert {s.parent.span_id for s in searches if s.parent} == orders
    [listing] = [s for s in finished if s.name == "zerossl.draft_listing"]
    assert {link.context.span_id for link in listing.links} == served_by["listing"]
    calls = [s.parent.span_id for s in finished if s.name == "zerossl.list" and s.parent]
    assert sorted(calls) == sorted([*served_by["search"], listing.context.span_id])


# --- the term's snapshot -------------------------------------------------------------------


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


async def test_inherited_searches_share_one_snapshot_listing_once_the_grace_is_over() -> None:
    account = FakeAccount()
    account.add(1, 2)
    clock = Clock()
    async with running(DraftSearches(grace=10.0, clock=clock)) as drafts:
        assert ids([await find(drafts, account, 1)]) == ["c1"]  # within the grace: own call
        clock.now = 10.0
        assert ids([await find(drafts, account, 2)]) == ["c2"]  # alone, yet a listing
        account.add(3)  # an old leader's draft cannot appear now; this one shows it is unseen
        results = [await find(drafts, account, n) for n in (1, 2, 3)]
    assert ids(results) == ["c1", "c2", None]  # from the snapshot, no call
    assert account.calls == [("n1.example.com", 1), (LISTING, 1)]


async def test_an_order_that_sent_a_create_this_term_is_not_answered_from_the_snapshot() -> None:
    account = FakeAccount()
    clock = Clock()
    async with running(DraftSearches(grace=10.0, clock=clock)) as drafts:
        clock.now = 20.0
        assert await find(drafts, account, 9) is None  # takes the snapshot (empty)
        drafts.attempting("o5")
        account.add(5)  # its create's answer was lost, the draft exists
        assert ids([await find(drafts, account, 5)]) == ["c5"]  # its own call sees it
        drafts.forget("o5")
        assert await find(drafts, account, 5) is None  # a new order o5: inherited, snapshot
    assert account.calls == [(LISTING, 1), ("n5.example.com", 1)]


async def test_a_snapshot_is_only_a_listing_started_after_the_grace() -> None:
    account = FakeAccount()
    clock = Clock()
    async with running(DraftSearches(grace=10.0, clock=clock)) as drafts:
        clock.now = 5.0
        first = await busy(drafts, account)
        waiting = [find(drafts, account, n) for n in (1, 2)]
        await settle()
        release(account, hold_next=True)
        await settle(lambda: account.gates)  # the shared listing started at 5 s
        clock.now = 15.0
        release(account)
        await asyncio.gather(first, *waiting)
        account.add(7)
        assert ids([await find(drafts, account, 7)]) == ["c7"]  # so this one lists again
        assert await find(drafts, account, 8) is None  # and that listing is the snapshot
    assert account.calls == [("n0.example.com", 1), (LISTING, 1), (LISTING, 1)]


# --- ownership: only what the caller may take --------------------------------------------------


def not_(*taken: str) -> Any:
    return lambda certificate: certificate.id not in taken


async def test_a_search_passes_over_certificates_another_order_owns() -> None:
    account = FakeAccount()
    account.add(1)
    account.add_twin(1, "c1-twin")  # newer, listed first
    async with running() as drafts:
        own_call = await drafts.find(account, "n1.example.com", hashes(1), "o1", not_("c1-twin"))
        nothing = await drafts.find(
            account, "n1.example.com", hashes(1), "o1", not_("c1", "c1-twin")
        )
        first = await busy(drafts, account)
        waiting = [
            asyncio.create_task(drafts.find(account, "n1.example.com", hashes(1), key, test))
            for key, test in (("o1", not_("c1-twin")), ("o2", not_("c1")), ("o3", not_()))
        ]
        await settle()
        release(account)
        shared = await asyncio.gather(first, *waiting)
    assert ids([own_call, nothing]) == ["c1", None]
    assert ids(shared) == [None, "c1", "c1-twin", "c1-twin"]
    assert account.calls[-1] == (LISTING, 1)


async def test_the_snapshot_gives_a_certificate_only_while_zerossl_still_holds_it_unfinished() -> (
    None
):
    account = FakeAccount()
    account.add(1, 2)
    clock = Clock()
    async with running(DraftSearches(grace=10.0, clock=clock)) as drafts:
        clock.now = 10.0
        assert await find(drafts, account, 9) is None  # takes the snapshot: c1 and c2 drafts
        assert account.reads == []
        account.finished["c1"] = "issued"  # since issued for its order, which then went away
        assert await find(drafts, account, 1) is None  # read again: not a draft any more
        assert ids([await find(drafts, account, 2)]) == ["c2"]  # read again: still a draft
        assert await find(drafts, account, 1) is None  # c1 left the snapshot: no read
        taken = await drafts.find(account, "n2.example.com", hashes(2), "o7", not_("c2"))
    assert taken is None  # owned by another order: not even read
    assert account.reads == ["c1", "c2"]
    assert account.calls == [(LISTING, 1)]
