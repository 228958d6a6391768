"""The batch poller with a fake ZeroSSL client: one list per account and round answers for
every watched certificate; only certificates that left the list cost a call, and an order is
enqueued exactly when its certificate's status moved."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable, Collection
from typing import cast

import pytest

from controller.clock import SystemClock
from controller.issuer.controllers.poller import DOWNLOADS_PER_ACCOUNT, IssuancePoller
from controller.kube.workqueue import RateLimitingQueue
from controller.zerossl.client import ZeroSSLClient
from controller.zerossl.errors import ErrorKind, ZeroSSLError
from controller.zerossl.models import Certificate, CertificateBundle, CertificateStatus

LEAF = "-----BEGIN CERTIFICATE-----\nTEVBRg==\n-----END CERTIFICATE-----\n"
CA = "-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n"
PENDING = CertificateStatus.PENDING_VALIDATION


def error(type_: str, kind: ErrorKind, endpoint: str) -> ZeroSSLError:
    return ZeroSSLError(kind, endpoint=endpoint, type_=type_)


class FakeAccount:
    """Certificates by id and status; ``failures`` maps an endpoint to errors raised in turn.

    Like the real client's bucket, a THROTTLED failure closes ``bucket``: later calls wait
    until the test opens it again. A download takes ``download_time`` seconds."""

    def __init__(self) -> None:
        self.status: dict[str, CertificateStatus] = {}
        self.calls: Counter[str] = Counter()
        self.failures: dict[str, list[ZeroSSLError]] = {}
        self.during_list: Callable[[], None] = lambda: None
        self.bucket = asyncio.Event()
        self.bucket.set()
        self.download_time = 0.0
        self.downloading = 0
        self.most_downloading = 0

    def client(self) -> ZeroSSLClient:
        return cast(ZeroSSLClient, self)

    def view(self, certificate_id: str) -> Certificate:
        status = self.status[certificate_id]
        return Certificate(certificate_id, status, status.value, common_name="shop.example.com")

    async def _fail(self, endpoint: str) -> None:
        await self.bucket.wait()
        self.calls[endpoint] += 1
        if self.failures.get(endpoint):
            failure = self.failures[endpoint].pop(0)
            if failure.kind is ErrorKind.THROTTLED:
                self.bucket.clear()
            raise failure

    async def iter_certificates(
        self, statuses: Collection[CertificateStatus], *, limit: int
    ) -> AsyncIterator[Certificate]:
        assert list(statuses) == [PENDING]
        assert limit == 1000
        await self._fail("list")
        self.during_list()
        for certificate_id, status in self.status.items():
            if status is PENDING:
                yield self.view(certificate_id)

    async def download(self, certificate_id: str) -> CertificateBundle:
        await self._fail("download")
        self.downloading += 1
        self.most_downloading = max(self.most_downloading, self.downloading)
        try:
            if self.download_time:
                await asyncio.sleep(self.download_time)
        finally:
            self.downloading -= 1
        if self.status[certificate_id] is not CertificateStatus.ISSUED:
            raise error("certificate_not_issued", ErrorKind.NOT_YET, "download")
        return CertificateBundle(LEAF, CA)

    async def get_certificate(self, certificate_id: str) -> Certificate:
        await self._fail("get")
        return self.view(certificate_id)


async def drain(queue: RateLimitingQueue[str]) -> list[str]:
    """The keys enqueued so far, in order."""
    keys = []
    while len(queue):
        key = await queue.get()
        queue.done(key)
        keys.append(key)
    return keys


@pytest.fixture
def queue() -> RateLimitingQueue[str]:
    return RateLimitingQueue(name="test-orders")


def make_poller(queue: RateLimitingQueue[str], interval: float = 10.0) -> IssuancePoller:
    return IssuancePoller(queue, interval=interval, clock=SystemClock())


def watch(poller: IssuancePoller, account: FakeAccount, *ids: str) -> None:
    for certificate_id in ids:
        account.status[certificate_id] = PENDING
        poller.watch(account.client(), certificate_id, f"shop/{certificate_id}")


async def test_one_list_per_account_answers_for_every_watched_certificate(
    queue: RateLimitingQueue[str],
) -> None:
    a, b = FakeAccount(), FakeAccount()
    poller = make_poller(queue)
    watch(poller, a, "a1", "a2", "a3")
    watch(poller, b, "b1", "b2")

    await poller.poll()
    await poller.poll()

    assert a.calls == Counter(list=2)
    assert b.calls == Counter(list=2)
    assert poller.observed("a2") == a.view("a2")
    assert await drain(queue) == []


async def test_an_issued_certificate_is_downloaded_once_and_its_order_enqueued(
    queue: RateLimitingQueue[str],
) -> None:
    account = FakeAccount()
    poller = make_poller(queue)
    watch(poller, account, "c1", "c2")
    await poller.poll()
    account.status["c1"] = CertificateStatus.ISSUED

    await poller.poll()
    await poller.poll()

    assert account.calls == Counter(list=3, download=1)
    assert await drain(queue) == ["shop/c1"]
    observed = poller.observed("c1")
    assert observed is not None
    assert observed.status is CertificateStatus.ISSUED
    assert observed.common_name == "shop.example.com"  # the listed view, status replaced
    assert poller.bundle("c1") == LEAF + CA
    assert poller.bundle("c1") is None  # handed out once


async def test_a_certificate_never_listed_is_observed_by_id_when_issued(
    queue: RateLimitingQueue[str],
) -> None:
    account = FakeAccount()
    poller = make_poller(queue)
    watch(poller, account, "fast")
    account.status["fast"] = CertificateStatus.ISSUED

    await poller.poll()

    assert poller.observed("fast") == Certificate("fast", CertificateStatus.ISSUED, "issued")
    assert await drain(queue) == ["shop/fast"]


async def test_a_certificate_cancelled_out_of_band_is_looked_up_once(
    queue: RateLimitingQueue[str],
) -> None:
    account = FakeAccount()
    poller = make_poller(queue)
    watch(poller, account, "c1")
    account.status["c1"] = CertificateStatus.CANCELLED

    await poller.poll()
    await poller.poll()

    assert account.calls == Counter(list=1, download=1, get=1)  # then nothing is watched
    observed = poller.observed("c1")
    assert observed is not None
    assert observed.status is CertificateStatus.CANCELLED
    assert poller.bundle("c1") is None
    assert await drain(queue) == ["shop/c1"]


async def test_a_transient_download_failure_is_retried_next_round(
    queue: RateLimitingQueue[str],
) -> None:
    account = FakeAccount()
    poller = make_poller(queue)
    watch(poller, account, "c1")
    account.status["c1"] = CertificateStatus.ISSUED
    account.failures["download"] = [error("internal_server_error", ErrorKind.RETRYABLE, "d")]

    await poller.poll()
    assert poller.observed("c1") is None
    assert await drain(queue) == []

    await poller.poll()
    assert account.calls == Counter(list=2, download=2)
    assert poller.bundle("c1") == LEAF + CA
    assert await drain(queue) == ["shop/c1"]


async def test_an_account_downloads_its_finished_certificates_concurrently(
    queue: RateLimitingQueue[str],
) -> None:
    account = FakeAccount()
    poller = make_poller(queue)
    ids = [f"c{i}" for i in range(DOWNLOADS_PER_ACCOUNT + 2)]
    watch(poller, account, *ids)
    for certificate_id in ids:
        account.status[certificate_id] = CertificateStatus.ISSUED
    account.download_time = 0.02

    await poller.poll()

    assert account.most_downloading == DOWNLOADS_PER_ACCOUNT  # overlapping, and bounded
    assert account.calls == Counter(list=1, download=len(ids))
    assert sorted(await drain(queue)) == [f"shop/{i}" for i in ids]
    assert all(poller.bundle(i) == LEAF + CA for i in ids)


async def test_a_throttled_account_sits_the_round_out(queue: RateLimitingQueue[str]) -> None:
    account, other = FakeAccount(), FakeAccount()
    poller = make_poller(queue)
    watch(poller, account, "c1", "c2")
    watch(poller, other, "o1")
    for certificate_id in ("c1", "c2", "o1"):
        (other if certificate_id == "o1" else account).status[certificate_id] = (
            CertificateStatus.ISSUED
        )
    account.failures["download"] = [error("", ErrorKind.THROTTLED, "download")]

    await poller.poll()

    assert account.calls == Counter(list=1, download=1)  # c2's download was cancelled
    assert await drain(queue) == ["shop/o1"]  # the other account is not held up
    account.bucket.set()  # the pause is over
    await poller.poll()
    assert sorted(await drain(queue)) == ["shop/c1", "shop/c2"]


async def test_a_failed_list_skips_the_account(queue: RateLimitingQueue[str]) -> None:
    account = FakeAccount()
    poller = make_poller(queue)
    watch(poller, account, "c1")
    account.status["c1"] = CertificateStatus.ISSUED
    account.failures["list"] = [error("", ErrorKind.RETRYABLE, "list")]

    await poller.poll()

    assert account.calls == Counter(list=1)
    assert poller.observed("c1") is None


async def test_only_certificates_watched_before_the_list_are_judged(
    queue: RateLimitingQueue[str],
) -> None:
    account = FakeAccount()
    poller = make_poller(queue)
    watch(poller, account, "c1")
    account.during_list = lambda: watch(poller, account, "late")
    account.status["late"] = CertificateStatus.DRAFT  # not listed, but watched too late

    await poller.poll()

    assert account.calls == Counter(list=1)
    assert poller.observed("late") is None


async def test_unwatch_forgets_everything(queue: RateLimitingQueue[str]) -> None:
    account = FakeAccount()
    poller = make_poller(queue)
    watch(poller, account, "c1")
    account.status["c1"] = CertificateStatus.ISSUED
    await poller.poll()

    poller.unwatch("c1")
    await poller.poll()

    assert poller.observed("c1") is None
    assert poller.bundle("c1") is None
    assert account.calls == Counter(list=1, download=1)


async def test_run_polls_every_interval_and_survives_a_bug(
    queue: RateLimitingQueue[str],
) -> None:
    account = FakeAccount()
    poller = make_poller(queue, interval=0.01)
    watch(poller, account, "c1")
    account.failures["list"] = [cast(ZeroSSLError, RuntimeError("a bug"))]

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await poller.run()

    assert account.calls["list"] >= 5  # kept going after the bug, about every 10 ms


def test_interval_and_concurrency_must_be_positive(queue: RateLimitingQueue[str]) -> None:
    clock = SystemClock()
    with pytest.raises(ValueError, match="interval"):
        IssuancePoller(queue, interval=0, clock=clock)
    with pytest.raises(ValueError, match="concurrency"):
        IssuancePoller(queue, interval=1, clock=clock, concurrency=0)
