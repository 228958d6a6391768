"""Two orders with byte-identical CSRs, on the production loop, whatever crashes and however
their reconciles interleave: each gets a certificate of its own, validation over HTTP never
serves one order's file while the other is checked, and deleting one never touches the other's.

The real :class:`OrderReconciler` (decide, act, fold, write) runs against an in-memory API
server whose writes land in the real caches at once (read-your-writes holds), an in-memory
ZeroSSL account that validates HTTP by fetching the file from the production solver lookup
(:meth:`Caches.validation_file`), and the real lost-draft searches. Hypothesis crashes the
process at any ZeroSSL call or Kubernetes write, before or after its effect: the process's
memory (fresh orders, claims, turns, searches) is lost, the API server and ZeroSSL keep theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.clock import FakeClock
from controller.config import Settings
from controller.issuer.controllers.caches import Caches
from controller.issuer.controllers.drafts import DraftSearches
from controller.issuer.controllers.fresh import FreshOrders
from controller.issuer.controllers.orders import OrderReconciler
from controller.issuer.controllers.watches import OwnWrites
from controller.issuer.order_steps import OrderPolicy
from controller.issuer.orders import Order
from controller.kube.client import KubeClient
from controller.kube.errors import Conflict
from controller.kube.informer import CachedObject
from controller.kube.kubeconfig import ClusterConfig
from controller.zerossl.errors import ErrorKind, ZeroSSLError
from controller.zerossl.models import (
    Certificate,
    CertificateBundle,
    CertificatePage,
    CertificateStatus,
    ValidationMethod,
)
from tests.unit.issuer.factories import (
    CSR,
    MD5,
    NOW,
    SHA256,
    T0,
    issuer_object,
    make_chain,
    order_object,
    request_object,
    zerossl_json,
)

CHAIN = make_chain(CSR)
NAMES = ("a", "b")
KEYS = tuple(f"default/{name}" for name in NAMES)
FILE = f"{MD5}.txt"
MAX_ROUNDS = 80


class Crash(BaseException):
    """The process died here (nothing catches it: no flush, no retry)."""


class Crashes:
    def __init__(self, plan: Sequence[bool]) -> None:
        self._plan: Iterator[bool] = iter(plan)
        self.fired = False  # the process has crashed (wherever: a reconcile, a search flight)

    async def point(self) -> None:
        await asyncio.sleep(0)  # let the other reconcile run in between
        if next(self._plan, False):
            self.fired = True
            raise Crash


@dataclass(eq=False)
class ZeroSSL:
    """One account; HTTP validation fetches the file from ``served``."""

    crashes: Crashes
    served: Any  # Caches.validation_file
    certificates: dict[str, dict[str, Any]] = field(default_factory=dict)
    cancelled: list[str] = field(default_factory=list)
    wrong_file: int = 0

    def unfinished(self) -> list[str]:
        return [
            i
            for i, c in self.certificates.items()
            if c["status"] in ("draft", "pending_validation")
        ]

    def view(self, cert_id: str) -> Certificate | None:
        data = self.certificates.get(cert_id)
        return Certificate.from_json(data) if data else None

    def tick(self) -> None:
        for cert in self.certificates.values():
            if cert["status"] == "pending_validation":
                cert["status"] = "issued"

    async def create_certificate(
        self, domains: Sequence[str], csr_pem: str, *, validity_days: int, strict_domains: bool
    ) -> Certificate:
        await self.crashes.point()
        cert_id = f"c{len(self.certificates) + 1}"
        data = zerossl_json(cert_id, "draft", tuple(domains), MD5, SHA256)
        for other in data["validation"]["other_methods"].values():
            other["file_validation_content"][2] = f"unique-{cert_id}"
        self.certificates[cert_id] = data
        await self.crashes.point()
        return Certificate.from_json(data)

    async def list_certificates(
        self,
        statuses: Collection[CertificateStatus],
        *,
        search: str | None = None,
        page: int = 1,
        limit: int = 100,
    ) -> CertificatePage:
        await self.crashes.point()
        wanted = {s.value for s in statuses}
        found = [
            c
            for c in reversed(self.certificates.values())
            if c["status"] in wanted and (search is None or search == c["common_name"])
        ]
        body = {"total_count": len(found), "results": found[(page - 1) * limit : page * limit]}
        return CertificatePage.from_json(body, page=page, limit=limit)

    async def get_certificate(self, cert_id: str) -> Certificate:
        await self.crashes.point()
        return Certificate.from_json(self.certificates[cert_id])

    async def verify_domains(
        self, cert_id: str, method: ValidationMethod, *, emails: Sequence[str] = ()
    ) -> Certificate:
        await self.crashes.point()
        data = self.certificates[cert_id]
        if data["status"] != "draft":
            raise ZeroSSLError(
                ErrorKind.PERMANENT, endpoint="verify", code=2830, type_="certificate_not_eligible"
            )
        for other in data["validation"]["other_methods"].values():
            expected = "\n".join(other["file_validation_content"]).encode()
            if self.served(FILE) != expected:
                self.wrong_file += 1
                raise ZeroSSLError(
                    ErrorKind.NOT_YET,
                    endpoint="verify",
                    code=0,
                    type_="domain_control_validation_failed",
                )
        data["status"] = "pending_validation"
        await self.crashes.point()
        return Certificate.from_json(data)

    async def download(self, cert_id: str) -> CertificateBundle:
        await self.crashes.point()
        assert self.certificates[cert_id]["status"] == "issued"
        return CertificateBundle(certificate=CHAIN, ca_bundle="")

    async def cancel(self, cert_id: str) -> None:
        await self.crashes.point()
        if self.certificates[cert_id]["status"] in ("draft", "pending_validation"):
            self.certificates[cert_id]["status"] = "cancelled"
            self.cancelled.append(cert_id)
        await self.crashes.point()


class ApiServer:
    """The ZeroSSLOrders as the API server holds them; every write lands in the cache at once."""

    def __init__(self, caches: Caches, crashes: Crashes) -> None:
        self.caches = caches
        self.crashes = crashes
        self.version = 1

    def get(self, key: str) -> dict[str, Any] | None:
        return self.caches.orders.store.get(key)

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        obj["metadata"]["resourceVersion"] = str(self.version)
        self.caches.orders.store.put(copy.deepcopy(obj))
        return copy.deepcopy(obj)

    def _current(self, namespace: str, name: str, version: str | None) -> dict[str, Any]:
        stored = self.get(f"{namespace}/{name}")
        assert stored is not None
        if version is not None and stored["metadata"]["resourceVersion"] != version:
            raise Conflict(409, "Conflict", "the object has been modified")
        return stored

    async def replace(
        self, res: Any, body: dict[str, Any], namespace: str, *, subresource: str
    ) -> dict[str, Any]:
        await self.crashes.point()
        meta = body["metadata"]
        stored = self._current(namespace, meta["name"], meta["resourceVersion"])
        written = self.put({**stored, "status": copy.deepcopy(body["status"])})
        await self.crashes.point()
        return written

    async def patch(
        self, res: Any, name: str, patch: dict[str, Any], *, namespace: str
    ) -> dict[str, Any]:
        await self.crashes.point()
        meta = patch["metadata"]
        stored = self._current(namespace, name, meta.get("resourceVersion"))
        stored["metadata"]["finalizers"] = meta["finalizers"]
        if not meta["finalizers"] and stored["metadata"].get("deletionTimestamp"):
            self.caches.orders.store.delete(f"{namespace}/{name}")
            written = stored
        else:
            written = self.put(stored)
        await self.crashes.point()
        return written

    def delete_order(self, key: str) -> None:
        stored = self.get(key)
        if stored is not None:
            stored["metadata"]["deletionTimestamp"] = T0
            self.put(stored)


class Accounts:
    def __init__(self, zerossl: ZeroSSL) -> None:
        self.zerossl = zerossl

    async def client(self, ref: Any, spec: Any) -> ZeroSSL:
        return self.zerossl

    def last_client(self, ref: Any) -> ZeroSSL:
        return self.zerossl


@dataclass(eq=False)
class Poller:
    """The batch poller's view: ZeroSSL as it is now."""

    zerossl: ZeroSSL

    def watch(self, client: Any, cert_id: str, key: str) -> None: ...

    def unwatch(self, cert_id: str) -> None: ...

    def observed(self, cert_id: str) -> Certificate | None:
        return self.zerossl.view(cert_id)

    def bundle(self, cert_id: str) -> str | None:
        return None


class Recorder:
    def record(self, *args: Any) -> None: ...


class World:
    def __init__(self, plan: Sequence[bool]) -> None:
        self.clock = FakeClock(NOW)
        self.crashes = Crashes(plan)
        self.caches = Caches(
            KubeClient(ClusterConfig("http://127.0.0.1:9")), "zerossl-issuer-system"
        )
        self.caches.cluster_issuers.store.put(issuer_object())
        self.api = ApiServer(self.caches, self.crashes)
        self.zerossl = ZeroSSL(self.crashes, self.caches.validation_file)
        self.woken: list[str] = []
        self.writes = OwnWrites()  # the process's: a new one per process
        for name in NAMES:
            obj = order_object(solvers=[{"http": {"none": {}}}], request_uid=f"uid-{name}")
            obj["metadata"].update(name=name, uid=f"uid-order-{name}")
            self.api.put(obj)

    @contextlib.asynccontextmanager
    async def process(self, *, first: bool) -> AsyncIterator[OrderReconciler]:
        """One controller process (its term): it created the orders if it is the first."""
        fresh, drafts = FreshOrders(), DraftSearches(grace=0.0, clock=self.clock.monotonic)
        self.writes = OwnWrites()
        if first:
            for key in KEYS:
                stored = self.api.get(key)
                assert stored is not None
                fresh.created(key, stored["metadata"]["uid"])
        reconciler = OrderReconciler(
            self.api,  # type: ignore[arg-type]
            self.caches,
            accounts=Accounts(self.zerossl),  # type: ignore[arg-type]
            secrets=None,  # type: ignore[arg-type]
            recorder=Recorder(),  # type: ignore[arg-type]
            issuers=None,  # type: ignore[arg-type]
            poller=Poller(self.zerossl),  # type: ignore[arg-type]
            settings=Settings(),
            clock=self.clock,
            policy=OrderPolicy(),
            fresh=fresh,
            drafts=drafts,
            wake=self.woken.append,
            writes=self.writes,
        )
        searches = asyncio.create_task(drafts.run())
        try:
            yield reconciler
        finally:
            searches.cancel()
            with contextlib.suppress(asyncio.CancelledError, BaseExceptionGroup):
                await searches
            self.crashes.fired = False

    def status(self, key: str) -> dict[str, Any]:
        stored = self.api.get(key)
        return dict((stored or {}).get("status") or {})

    def reason(self, key: str) -> str | None:
        ready = [c for c in self.status(key).get("conditions") or () if c.get("type") == "Ready"]
        return ready[0].get("reason") if ready else None


async def reconcile(world: World, reconciler: OrderReconciler, keys: Sequence[str]) -> bool:
    """Reconciles ``keys`` concurrently; False if the process crashed (the others stop too)."""
    tasks = [asyncio.create_task(reconciler.reconcile(key)) for key in keys]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Crash, Exception):
            await task  # any other error: the worker retries later
    return not world.crashes.fired


STEPS = st.lists(st.sampled_from([(0,), (1,), (0, 1)]), max_size=30)


async def drive(world: World, steps: list[tuple[int, ...]], done: Any, delete_at: int = -1) -> None:
    """Runs reconciles (the drawn ones, then both in turn) until ``done()``; a crash ends the
    process and the next round starts a new one."""
    first = True
    async with contextlib.AsyncExitStack() as stack:
        reconciler: OrderReconciler | None = None
        for round_ in range(MAX_ROUNDS):
            if done():
                return
            if round_ == delete_at:
                world.api.delete_order(KEYS[1])
            if reconciler is None:
                reconciler = await stack.enter_async_context(world.process(first=first))
                first = False
            which = steps[round_] if round_ < len(steps) else (round_ % 2,)
            if not await reconcile(world, reconciler, [KEYS[i] for i in which]):
                await stack.aclose()
                reconciler = None
            world.zerossl.tick()
            world.clock.advance(3600)  # every backoff window has passed
    raise AssertionError(f"no progress: {[world.status(k) for k in KEYS]}")


@settings(max_examples=120, deadline=None)
@given(plan=st.lists(st.booleans(), max_size=40), steps=STEPS)
def test_identical_csrs_each_get_their_own_certificate_whatever_crashes(
    plan: list[bool], steps: list[tuple[int, ...]]
) -> None:
    world = World(plan)
    issued = lambda: all(world.reason(k) == "Issued" for k in KEYS)  # noqa: E731
    asyncio.run(drive(world, steps, issued))
    ids = [world.status(k)["certificateID"] for k in KEYS]
    assert ids[0] != ids[1]
    assert all(world.zerossl.certificates[i]["status"] == "issued" for i in ids)
    assert len(world.zerossl.certificates) == 2
    assert world.zerossl.wrong_file == 0
    assert world.zerossl.cancelled == []


@settings(max_examples=120, deadline=None)
@given(
    plan=st.lists(st.booleans(), max_size=40),
    steps=STEPS,
    delete_at=st.integers(min_value=0, max_value=12),
)
def test_deleting_one_of_two_identical_orders_never_touches_the_others_certificate(
    plan: list[bool], steps: list[tuple[int, ...]], delete_at: int
) -> None:
    world = World(plan)
    kept, dropped = KEYS

    def finished() -> bool:
        return world.reason(kept) == "Issued" and world.api.get(dropped) is None

    asyncio.run(drive(world, steps, finished, delete_at))
    mine = world.status(kept)["certificateID"]
    assert world.zerossl.certificates[mine]["status"] == "issued"
    assert mine not in world.zerossl.cancelled
    assert world.zerossl.unfinished() == []
    assert world.zerossl.wrong_file == 0


def test_the_turn_passes_as_soon_as_the_holder_is_accepted_though_that_is_not_written_yet() -> None:
    # The clock stands still, so an accepted validation kept in memory (up to defer_max) would
    # keep the other order waiting: the order that comes to wait hurries it, it is written,
    # and the next order validates its own file at once.
    world = World([])
    first, second = KEYS

    def at_zerossl(key: str) -> str:
        return str(world.zerossl.certificates[world.status(key)["certificateID"]]["status"])

    async def scenario() -> None:
        async with world.process(first=True) as reconciler:
            await reconciler.reconcile(first)
            assert at_zerossl(first) == "pending_validation"
            assert world.reason(first) == "Presenting"  # accepted, in memory only
            await reconciler.reconcile(second)
            assert world.reason(second) == "WaitingForSameCSR"
            assert world.woken == [first]  # hurried
            await reconciler.reconcile(first)
            assert world.reason(first) == "WaitingForIssuance"
            assert world.woken == [first, second]  # the turn passed on
            await reconciler.reconcile(second)
            assert at_zerossl(second) == "pending_validation"

    asyncio.run(scenario())
    assert world.zerossl.wrong_file == 0


def test_a_reconcile_expects_the_echo_of_its_last_write_and_only_that() -> None:
    world = World([])

    async def one_reconcile() -> None:
        async with world.process(first=True) as reconciler:
            await reconciler.reconcile(KEYS[0])

    asyncio.run(one_reconcile())
    stored = world.api.get(KEYS[0])
    assert stored is not None
    assert world.status(KEYS[0]).get("certificateID")
    echo = CachedObject.encode(stored)
    assert world.writes.seen(echo)  # the write it went on from wakes nothing
    assert not world.writes.seen(echo)  # once
    assert len(world.writes) == 0  # the other order was not written


def test_an_order_whose_request_is_gone_or_replaced_knows_it() -> None:
    """``request_gone`` compares the cached request's uid with the order's: absent or recreated
    under the same name is gone; never judged from a cache that has not synced."""
    world = World([])
    requests = world.caches.requests

    async def facts_of(uid: str | None, *, synced: bool = True) -> bool:
        async with world.process(first=True) as reconciler:
            stored = world.api.get(KEYS[0])
            assert stored is not None
            if synced:
                requests._synced.set()
            if uid is not None:
                requests.store.put(request_object(name="www", uid=uid))  # the order's request
            order = Order.from_object(stored)
            return reconciler.facts(order).request_gone

    assert asyncio.run(facts_of("uid-a", synced=False)) is False
    assert asyncio.run(facts_of("uid-a")) is False
    assert asyncio.run(facts_of("uid-replaced")) is True
    requests.store.delete("default/www")
    assert asyncio.run(facts_of(None)) is True


def test_the_write_that_finishes_an_order_wakes_nothing() -> None:
    """The run that records the certificate goes on to clean up and ends deciding nothing: a
    decision from the written object (what its event would wake) decides nothing either."""
    world = World([])

    async def until_issued() -> None:
        async with world.process(first=True) as reconciler:
            for _ in range(MAX_ROUNDS):
                if world.reason(KEYS[0]) == "Issued":
                    return
                await reconciler.reconcile(KEYS[0])
                world.zerossl.tick()
                world.clock.advance(3600)

    asyncio.run(until_issued())
    stored = world.api.get(KEYS[0])
    assert stored is not None
    assert world.reason(KEYS[0]) == "Issued"
    assert world.writes.seen(CachedObject.encode(stored))
