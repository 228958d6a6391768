"""Lost-draft searches, coalesced per ZeroSSL account.

An order that may have reached ZeroSSL without recording its certificate id (a failed or
timed-out create, a restart, a failover) looks for the draft created from its CSR before
creating one (``AdoptOrCreate``). Alone, that is one call: unfinished certificates
(``draft,pending_validation``) searched by common name. After a failover the old leader's
in-flight orders all search at once; they share one listing of the account's unfinished
certificates instead, matched locally by CSR hashes (``CsrHashes.matches``).

Invariants:
- Freshness: a search is answered only by calls that started after it was asked for (the
  draft of a create lost just before it must be seen). Per account one flight runs at a time;
  it takes the searches waiting when it starts; searches asked for meanwhile wait for the
  next flight, never join the running one.
- Cost rule: a flight of ``k`` searches lists the account, at ``pages`` calls (ceil(unfinished
  / 1000) by the last listing's ``total_count``; 1 before any), only if ``k > pages``; else
  each search makes its own call. A lone search never lists; a stale estimate over-prices one
  listing, which corrects it.
- Inherited searches: an order this leader never sent a create for in its term
  (:meth:`attempting` not called for it) can only have a draft from an earlier term, which
  existed when this term began: the old leader stopped before its Lease expired, and a create
  ZeroSSL received is answered within the ZeroSSL timeout (``grace``). So one consistent
  listing started at least ``grace`` after the term began answers every inherited search of
  the account for the rest of the term (the term's snapshot: CSR MD5 -> certificates); the
  first inherited search after ``grace`` lists even when alone. Searches of orders whose create
  this term sent follow the freshness rule above.
- A listing reads every page and is trusted only if every page reported the same total.
  ZeroSSL lists newest first: a certificate leaving an earlier page during the listing shifts
  a later one past a page boundary, unseen, and only drafts added in front shift back; an
  unchanged total means as many were added as left. If the total moved, the listing's
  searches make their own calls.
- Ownership: a search answers only with a certificate its ``acceptable`` test passes (the
  caller's: no other order owns it, :mod:`~controller.issuer.controllers.owners`). The term's
  snapshot may be stale for certificates of live orders (issued, cancelled since), so a
  certificate it offers is read again (one GET) and given only while still unfinished; a
  finished one leaves the snapshot.
- A failed call fails exactly the searches it served, with the client's error (transient stays
  transient); the next search calls again.
- Ownership: flights are tasks of :meth:`run`'s TaskGroup, which the leader runs for its term
  next to the workers (like the batch poller), so no flight outlives the term. Each search
  waits on a future of its own: cancelling one order cancels only that future, never the
  flight serving the others (waiters owning a shielded flight would need the last one out to
  stop it). When :meth:`run` stops, every unanswered search is cancelled.
- Memory: one record per account (keyed by its client; ZeroSSLAccounts keeps one per account)
  for one term, holding at most one snapshot (the account's unfinished certificates); the keys
  of orders with a create sent this term until they are forgotten; waiting searches are
  bounded by the workers.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from opentelemetry import trace

from controller.observability import metrics, tracing
from controller.zerossl.client import MAX_LIST_LIMIT
from controller.zerossl.csrhashes import CsrHashes
from controller.zerossl.models import Certificate, CertificatePage, CertificateStatus

UNFINISHED = (CertificateStatus.DRAFT, CertificateStatus.PENDING_VALIDATION)
# How a search was served (metric label, span attribute): its own call, a listing shared with
# the searches waiting with it, or the term's snapshot.
SEARCH, LISTING, SNAPSHOT = "search", "listing", "snapshot"
ATTR_SERVED_BY = "zerossl_issuer.draft_search.served_by"


class CertificateLister(Protocol):
    """The part of :class:`~controller.zerossl.client.ZeroSSLClient` a search needs."""

    async def list_certificates(
        self,
        statuses: Collection[CertificateStatus],
        *,
        search: str | None = None,
        page: int = 1,
        limit: int = 100,
    ) -> CertificatePage: ...

    async def get_certificate(self, certificate_id: str) -> Certificate: ...


@dataclass(eq=False, slots=True)
class _Search:
    """One order's search, waiting for a flight to answer it."""

    common_name: str
    hashes: CsrHashes
    acceptable: Callable[[Certificate], bool]
    answer: asyncio.Future[Certificate | None]
    context: contextvars.Context  # the order's, so its own call joins the order's trace
    span: trace.SpanContext
    inherited: bool  # no create of its order was sent this term
    served_by: str = SEARCH  # set when a flight takes it


@dataclass(eq=False, slots=True)
class _Account:
    client: CertificateLister
    waiting: list[_Search] = field(default_factory=list)
    flying: bool = False  # a flight is queued or running
    pages: int = 1  # what listing the account costs, as last learnt
    snapshot: dict[str, list[Certificate]] | None = None  # by CSR MD5 (module docstring)


@dataclass(frozen=True, slots=True)
class _Pages:
    certificates: list[Certificate]
    totals: frozenset[int]  # every total_count the pages reported

    @property
    def consistent(self) -> bool:
        return len(self.totals) <= 1


class DraftSearches:
    """This leadership term's lost-draft searches, coalesced per account; :meth:`run` serves
    them until cancelled."""

    def __init__(self, *, grace: float, clock: Callable[[], float] = time.monotonic) -> None:
        """The term begins now; ``grace``: the ZeroSSL call timeout (module docstring)."""
        self._accounts: dict[CertificateLister, _Account] = {}
        self._ready: asyncio.Queue[_Account] = asyncio.Queue()
        self._clock = clock
        self._snapshot_from = clock() + grace
        self._attempted: set[str] = set()

    def attempting(self, order_key: str) -> None:
        """A create of ``order_key``'s certificate is about to be sent (call it first)."""
        self._attempted.add(order_key)

    def forget(self, order_key: str) -> None:
        """The order is gone."""
        self._attempted.discard(order_key)

    async def find(
        self,
        client: CertificateLister,
        common_name: str,
        hashes: CsrHashes,
        order_key: str,
        acceptable: Callable[[Certificate], bool] = lambda _: True,
    ) -> Certificate | None:
        """The unfinished certificate created from the CSR ``hashes`` names that passes
        ``acceptable``, if any; raises the client's error when a call serving it failed."""
        account = self._accounts.get(client)
        if account is None:
            account = self._accounts[client] = _Account(client)
        inherited = order_key not in self._attempted
        with tracing.start_span("zerossl.draft_search") as span:
            if inherited and account.snapshot is not None:
                span.set_attribute(ATTR_SERVED_BY, SNAPSHOT)
                metrics.draft_searches.labels(served_by=SNAPSHOT).inc()
                return await _confirmed(account, hashes, acceptable)
            search = _Search(
                common_name,
                hashes,
                acceptable,
                asyncio.get_running_loop().create_future(),
                contextvars.copy_context(),
                span.get_span_context(),
                inherited,
            )
            account.waiting.append(search)
            if not account.flying:
                account.flying = True
                self._ready.put_nowait(account)
            try:
                found = await search.answer
            finally:
                span.set_attribute(ATTR_SERVED_BY, search.served_by)
            if found is not None and search.served_by == SNAPSHOT:
                return await _confirmed(account, hashes, acceptable)
            return found

    async def run(self) -> None:
        """Starts a flight for each account with searches waiting; owns the flights."""
        try:
            async with asyncio.TaskGroup() as flights:
                while True:
                    account = await self._ready.get()
                    flights.create_task(self._fly(account), name="draft-search")
        finally:
            for account in self._accounts.values():
                _cancel(account.waiting)

    async def _fly(self, account: _Account) -> None:
        """Serves the account's waiting searches, flight after flight, until none waits."""
        batch: list[_Search] = []
        try:
            while batch := _take(account):
                try:
                    if len(batch) > account.pages or self._snapshot_wanted(account, batch):
                        await self._list(account, batch)
                    else:
                        await _search_each(account.client, batch)
                except Exception as error:  # each order's reconcile judges it
                    _fail(batch, error)
        finally:
            account.flying = False
            _cancel(batch)

    def _snapshot_wanted(self, account: _Account, batch: list[_Search]) -> bool:
        """A listing now would become the term's snapshot, and an inherited search waits."""
        return (
            account.snapshot is None
            and self._clock() >= self._snapshot_from
            and any(search.inherited for search in batch)
        )

    async def _list(self, account: _Account, batch: list[_Search]) -> None:
        """One listing of the account answers every search of ``batch``; it becomes the term's
        snapshot when it started late enough and is consistent."""
        for search in batch:
            search.served_by = LISTING
        links = [trace.Link(s.span) for s in batch]
        attributes = {"zerossl_issuer.draft_search.orders": len(batch)}
        started = self._clock()
        with tracing.start_span("zerossl.draft_listing", attributes, links=links):
            listed = await _read(account.client, search=None)
        account.pages = max(1, math.ceil(max(listed.totals) / MAX_LIST_LIMIT))
        if not listed.consistent:
            await _search_each(account.client, batch)
            return
        by_md5: dict[str, list[Certificate]] = {}
        for certificate in listed.certificates:
            if certificate.csr_md5 is not None:
                by_md5.setdefault(certificate.csr_md5, []).append(certificate)
        if started >= self._snapshot_from:
            account.snapshot = by_md5
        for search in batch:
            _answer(search, _first_match(by_md5.get(search.hashes.md5, ()), search))


def _take(account: _Account) -> list[_Search]:
    """The searches waiting now that a flight must serve: those whose order gave up are
    dropped, inherited ones are answered from the snapshot if there is one."""
    batch = []
    for search in account.waiting:
        if search.answer.done():
            continue
        if search.inherited and account.snapshot is not None:
            search.served_by = SNAPSHOT
            _answer(search, _first_match(account.snapshot.get(search.hashes.md5, ()), search))
        else:
            batch.append(search)
    account.waiting.clear()
    return batch


async def _confirmed(
    account: _Account, hashes: CsrHashes, acceptable: Callable[[Certificate], bool]
) -> Certificate | None:
    """The first acceptable certificate of the snapshot for ``hashes`` that ZeroSSL still holds
    unfinished (read again); finished ones leave the snapshot."""
    snapshot = account.snapshot
    assert snapshot is not None  # set once per term, never unset
    for candidate in list(snapshot.get(hashes.md5, ())):
        if not (hashes.matches(candidate) and acceptable(candidate)):
            continue
        current = await account.client.get_certificate(candidate.id)
        if current.status in UNFINISHED:
            return current
        kept = [c for c in snapshot.get(hashes.md5, ()) if c.id != candidate.id]
        snapshot[hashes.md5] = kept
    return None


async def _search_each(client: CertificateLister, batch: list[_Search]) -> None:
    """Each search's own call, concurrently, in its order's context."""
    async with asyncio.TaskGroup() as group:
        for search in batch:
            search.served_by = SEARCH
            group.create_task(_search_one(client, search), context=search.context)


async def _search_one(client: CertificateLister, search: _Search) -> None:
    try:
        listed = await _read(client, search=search.common_name)
    except Exception as error:  # the order's reconcile judges it
        _fail([search], error)
    else:
        _answer(search, _first_match(listed.certificates, search))


async def _read(client: CertificateLister, *, search: str | None) -> _Pages:
    """Every page of unfinished certificates (matching ``search``), in pages of 1000."""
    certificates: list[Certificate] = []
    totals: set[int] = set()
    page = 1
    while True:
        result = await client.list_certificates(
            UNFINISHED, search=search, page=page, limit=MAX_LIST_LIMIT
        )
        certificates.extend(result.results)
        totals.add(result.total_count)
        if not result.has_more:
            return _Pages(certificates, frozenset(totals))
        page += 1


def _first_match(certificates: Iterable[Certificate], search: _Search) -> Certificate | None:
    return next(
        (c for c in certificates if search.hashes.matches(c) and search.acceptable(c)), None
    )


def _answer(search: _Search, found: Certificate | None) -> None:
    if not search.answer.done():
        search.answer.set_result(found)
        metrics.draft_searches.labels(served_by=search.served_by).inc()


def _fail(batch: Iterable[_Search], error: Exception) -> None:
    for search in batch:
        if not search.answer.done():
            search.answer.set_exception(error)


def _cancel(batch: Iterable[_Search]) -> None:
    for search in batch:
        search.answer.cancel()
