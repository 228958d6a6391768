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
- A listing reads every page and is trusted only if every page reported the same total.
  ZeroSSL lists newest first: a certificate leaving an earlier page during the listing shifts
  a later one past a page boundary, unseen, and only drafts added in front shift back; an
  unchanged total means as many were added as left. If the total moved, the listing's
  searches make their own calls.
- A failed call fails exactly the searches it served, with the client's error (transient stays
  transient); the next search calls again.
- Ownership: flights are tasks of :meth:`run`'s TaskGroup, which the leader runs for its term
  next to the workers (like the batch poller), so no flight outlives the term. Each search
  waits on a future of its own: cancelling one order cancels only that future, never the
  flight serving the others (waiters owning a shielded flight would need the last one out to
  stop it). When :meth:`run` stops, every unanswered search is cancelled.
- Memory: one small record per account (keyed by its client; ZeroSSLAccounts keeps one per
  account) for one term; waiting searches are bounded by the workers.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from opentelemetry import trace

from controller.observability import metrics, tracing
from controller.zerossl.client import MAX_LIST_LIMIT
from controller.zerossl.csr import CsrHashes
from controller.zerossl.models import Certificate, CertificatePage, CertificateStatus

UNFINISHED = (CertificateStatus.DRAFT, CertificateStatus.PENDING_VALIDATION)
SEARCH, LISTING = "search", "listing"  # how a search was served (metric label, span attribute)
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


@dataclass(eq=False, slots=True)
class _Search:
    """One order's search, waiting for a flight to answer it."""

    common_name: str
    hashes: CsrHashes
    answer: asyncio.Future[Certificate | None]
    context: contextvars.Context  # the order's, so its own call joins the order's trace
    span: trace.SpanContext
    served_by: str = SEARCH  # set when a flight takes it


@dataclass(eq=False, slots=True)
class _Account:
    client: CertificateLister
    waiting: list[_Search] = field(default_factory=list)
    flying: bool = False  # a flight is queued or running
    pages: int = 1  # what listing the account costs, as last learnt


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

    def __init__(self) -> None:
        self._accounts: dict[CertificateLister, _Account] = {}
        self._ready: asyncio.Queue[_Account] = asyncio.Queue()

    async def find(
        self, client: CertificateLister, common_name: str, hashes: CsrHashes
    ) -> Certificate | None:
        """The unfinished certificate created from the CSR ``hashes`` names, if any; raises
        the client's error when the call serving this search failed."""
        account = self._accounts.get(client)
        if account is None:
            account = self._accounts[client] = _Account(client)
        with tracing.start_span("zerossl.draft_search") as span:
            search = _Search(
                common_name,
                hashes,
                asyncio.get_running_loop().create_future(),
                contextvars.copy_context(),
                span.get_span_context(),
            )
            account.waiting.append(search)
            if not account.flying:
                account.flying = True
                self._ready.put_nowait(account)
            try:
                return await search.answer
            finally:
                span.set_attribute(ATTR_SERVED_BY, search.served_by)

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
                    if len(batch) > account.pages:
                        await _list(account, batch)
                    else:
                        await _search_each(account.client, batch)
                except Exception as error:  # each order's reconcile judges it
                    _fail(batch, error)
        finally:
            account.flying = False
            _cancel(batch)


async def _list(account: _Account, batch: list[_Search]) -> None:
    """One listing of the account answers every search of ``batch``."""
    for search in batch:
        search.served_by = LISTING
    links = [trace.Link(s.span) for s in batch]
    attributes = {"zerossl_issuer.draft_search.orders": len(batch)}
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
    for search in batch:
        candidates = by_md5.get(search.hashes.md5, ())
        _answer(search, _first_match(candidates, search.hashes))


def _take(account: _Account) -> list[_Search]:
    """The searches waiting now (those whose order gave up are dropped)."""
    batch = [s for s in account.waiting if not s.answer.done()]
    account.waiting.clear()
    return batch


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
        _answer(search, _first_match(listed.certificates, search.hashes))


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


def _first_match(certificates: Iterable[Certificate], hashes: CsrHashes) -> Certificate | None:
    return next((c for c in certificates if hashes.matches(c)), None)


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
