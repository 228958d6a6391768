"""The batch poller: one list call per account and round answers for every certificate that
account is waiting on, so a certificate costs create, verify and download and little else.

Invariants:
- A round lists ``certificate_status=pending_validation`` (pages of 1000) once per account with
  watched certificates; accounts are polled concurrently (at most ``concurrency`` at a time),
  each through its client (its token bucket, its timeout): the list, then the certificates that
  left it, at most ``DOWNLOADS_PER_ACCOUNT`` at a time (each waits in the account's bucket, so
  one at a time would get one token in as many as there are workers).
- A watched certificate still listed is observed as listed; the order is enqueued only when
  the observed status changes. One no longer listed left ``pending_validation`` since the
  round began (only certificates watched before the list call are judged): it is downloaded
  at once. A download that succeeds means issued: the chain is kept for :meth:`bundle` and
  the certificate observed as issued (the last listed view with its status replaced, or the
  bare id and status when it was never listed); ZeroSSL's "not issued" or "not downloadable"
  answers are settled by one GET (cancelled, expired, back to draft...). Either way the order
  is enqueued, ahead of orders not started yet (``add_first``): under a ZeroSSL quota a
  finished certificate is recorded at once, not after every queued order has been created.
  Any other failure leaves the certificate watched for the next round; a
  throttled account (its client already paused its bucket) sits the rest of the round out: its
  other downloads are cancelled and their certificates stay watched.
- A chain is handed out once; :meth:`unwatch` forgets everything about a certificate.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass

from controller.clock import Clock
from controller.kube.workqueue import RateLimitingQueue
from controller.zerossl.client import MAX_LIST_LIMIT, ZeroSSLClient
from controller.zerossl.errors import ErrorKind, ZeroSSLError
from controller.zerossl.models import Certificate, CertificateStatus

log = logging.getLogger(__name__)

NOT_DOWNLOADABLE = frozenset({"certificate_not_issued", "certificate_not_downloadable"})
JITTER = 0.2  # each pause is the interval times a factor within 1 +- JITTER
DOWNLOADS_PER_ACCOUNT = 4


@dataclass(frozen=True, slots=True)
class _Watch:
    client: ZeroSSLClient
    order_key: str


class IssuancePoller:
    """Watches certificates in ``pending_validation`` and enqueues their orders on changes."""

    def __init__(
        self,
        queue: RateLimitingQueue[str],
        *,
        interval: float,
        clock: Clock,
        concurrency: int = 8,
        rng: random.Random | None = None,
    ) -> None:
        """The client passed to :meth:`watch` identifies the account: ZeroSSLAccounts keeps one
        client per account."""
        if not interval > 0 or concurrency < 1:
            raise ValueError("interval must be > 0 and concurrency >= 1")
        self._queue = queue
        self._interval = interval
        self._clock = clock
        self._slots = asyncio.Semaphore(concurrency)
        self._rng = rng or random.Random()  # noqa: S311 (poll jitter, not cryptography)
        self._watched: dict[str, _Watch] = {}
        self._observed: dict[str, Certificate] = {}
        self._bundles: dict[str, str] = {}

    # --- the orders' side ----------------------------------------------------------------------

    def watch(self, client: ZeroSSLClient, certificate_id: str, order_key: str) -> None:
        """Poll ``certificate_id`` through ``client`` and enqueue ``order_key`` on changes."""
        self._watched[certificate_id] = _Watch(client, order_key)

    def unwatch(self, certificate_id: str) -> None:
        """Stop polling and forget what was observed or downloaded."""
        self._watched.pop(certificate_id, None)
        self._observed.pop(certificate_id, None)
        self._bundles.pop(certificate_id, None)

    def observed(self, certificate_id: str) -> Certificate | None:
        """The freshest view of the certificate, if the poller has one."""
        return self._observed.get(certificate_id)

    def bundle(self, certificate_id: str) -> str | None:
        """The downloaded chain (leaf first), handed out once."""
        return self._bundles.pop(certificate_id, None)

    # --- the rounds ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Polls every ``interval`` (jittered) until cancelled."""
        while True:
            started = self._clock.monotonic()
            await self.poll()
            pause = self._interval * self._rng.uniform(1 - JITTER, 1 + JITTER)
            await asyncio.sleep(max(0.0, started + pause - self._clock.monotonic()))

    async def poll(self) -> None:
        """One round over every account with watched certificates."""
        accounts: dict[int, tuple[ZeroSSLClient, list[str]]] = {}
        for certificate_id, watch in self._watched.items():
            entry = accounts.setdefault(id(watch.client), (watch.client, []))
            entry[1].append(certificate_id)
        async with asyncio.TaskGroup() as group:
            for client, ids in accounts.values():
                group.create_task(self._poll_account(client, ids))

    async def _poll_account(self, client: ZeroSSLClient, ids: list[str]) -> None:
        async with self._slots:
            try:
                await self._poll_ids(client, ids)
            except* ZeroSSLError as errors:  # the list failed, or the account was throttled
                log.warning("batch poll: %s; trying again next round", errors.exceptions[0])
            except* Exception:
                # A bug must not end the poller (and with it the leader); the next round retries.
                log.exception("batch poll of %d certificate(s) failed", len(ids))

    async def _poll_ids(self, client: ZeroSSLClient, ids: list[str]) -> None:
        statuses = [CertificateStatus.PENDING_VALIDATION]
        listed = {c.id: c async for c in client.iter_certificates(statuses, limit=MAX_LIST_LIMIT)}
        finished = []
        for certificate_id in ids:
            if certificate_id in listed:
                self._observe(certificate_id, listed[certificate_id])
            else:
                finished.append(certificate_id)
        shared = iter(finished)  # each id goes to one downloader
        async with asyncio.TaskGroup() as group:  # THROTTLED cancels the account's other calls
            for _ in range(min(DOWNLOADS_PER_ACCOUNT, len(finished))):
                group.create_task(self._download_each(client, shared))

    async def _download_each(self, client: ZeroSSLClient, ids: Iterator[str]) -> None:
        """Settles certificates that left the list, one after another; raises only THROTTLED."""
        for certificate_id in ids:
            try:
                certificate, chain = await self._settle(client, certificate_id)
            except ZeroSSLError as error:
                if error.kind is ErrorKind.THROTTLED:
                    raise
                log.warning("batch poll: %s; trying again next round", error)
                continue
            if chain is not None and certificate_id in self._watched:
                self._bundles[certificate_id] = chain
            self._observe(certificate_id, certificate)

    async def _settle(
        self, client: ZeroSSLClient, certificate_id: str
    ) -> tuple[Certificate, str | None]:
        """The certificate left ``pending_validation``: its chain if it downloads (issued), else
        what one GET says it is now."""
        try:
            bundle = await client.download(certificate_id)
        except ZeroSSLError as error:
            if error.type not in NOT_DOWNLOADABLE:
                raise
            return await client.get_certificate(certificate_id), None
        last = self._observed.get(certificate_id)
        issued = CertificateStatus.ISSUED
        certificate = (
            dataclasses.replace(last, status=issued, status_text=issued.value)
            if last is not None
            else Certificate(certificate_id, issued, issued.value)
        )
        return certificate, bundle.chain_pem()

    def _observe(self, certificate_id: str, certificate: Certificate) -> None:
        """Record a view of a watched certificate (one unwatched meanwhile is left alone);
        enqueue its order when the status moved. Watched certificates were
        ``pending_validation`` when watched; one that left that state is watched no more."""
        watch = self._watched.get(certificate_id)
        if watch is None:
            return
        previous = self._observed.get(certificate_id)
        self._observed[certificate_id] = certificate
        before = previous.status if previous else CertificateStatus.PENDING_VALIDATION
        if certificate.status is not before:
            self._queue.add_first(watch.order_key)  # finishing work goes before new work
        if certificate.status is not CertificateStatus.PENDING_VALIDATION:
            del self._watched[certificate_id]
