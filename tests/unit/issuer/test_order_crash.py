"""The invariant: one ZeroSSL certificate per order, whatever crashes.

The production order loop (:class:`~controller.issuer.controllers.order_loop.OrderLoop`:
decide, act, fold the outcomes in and decide again, with its write-ahead rules) runs against
an in-memory ZeroSSL and an in-memory object store. Hypothesis crashes the process before any
decision, after any action and after any status write: a crash loses everything not yet
written and the process's memory (which orders are fresh), and the next process starts from
the store. Two orders sharing one CSR, with the act layer's ownership rules, are crashed on the
whole production reconciler in tests/unit/issuer_runtime/test_order_crash_twins.py.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.clock import FakeClock
from controller.issuer.actions import (
    AddFinalizer,
    AdoptOrCreate,
    AwaitIssuance,
    CancelAtZeroSSL,
    CancelledAtZeroSSL,
    CertificateObtained,
    CleanedUp,
    Cleanup,
    DeleteOrder,
    Download,
    Downloaded,
    FlagIssuer,
    NoDraftFound,
    OrderAction,
    Outcome,
    Present,
    Presented,
    Propagated,
    RemoveFinalizer,
    Verified,
    Verify,
    WaitPropagation,
)
from controller.issuer.controllers.deferred import DeferredStatuses
from controller.issuer.controllers.order_loop import OrderLoop, OrderRun, StopReconcile
from controller.issuer.decide_order import OrderFacts
from controller.issuer.decision import Event
from controller.issuer.issuers import Issuer
from controller.issuer.order_steps import OrderPolicy
from controller.issuer.orders import Order, ValidationState
from controller.kube.worker import DONE
from controller.zerossl.csrhashes import CsrHashes
from controller.zerossl.models import Certificate
from tests.unit.issuer.factories import (
    CSR,
    NOW,
    SHA256,
    T0,
    issuer_object,
    make_chain,
    order_object,
    zerossl_json,
)

ISSUER = Issuer.from_object(issuer_object())
CHAIN = make_chain(CSR)
MAX_RECONCILES = 60


class Crash(BaseException):
    """The process died here (the loop catches no BaseException: nothing more is written)."""


@dataclass
class ZeroSSL:
    """Certificates by id; the CA issues whatever is pending_validation on each tick."""

    certificates: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def created(self) -> int:
        return len(self.certificates)

    def unfinished(self) -> list[str]:
        return [
            i
            for i, c in self.certificates.items()
            if c["status"] in ("draft", "pending_validation")
        ]

    def view(self, cert_id: str | None) -> Certificate | None:
        data = self.certificates.get(cert_id or "")
        return Certificate.from_json(data) if data else None

    def tick(self) -> None:
        for cert in self.certificates.values():
            if cert["status"] == "pending_validation":
                cert["status"] = "issued"

    def adopt_or_create(self, action: AdoptOrCreate) -> Outcome:
        if action.search_first:
            hashes = CsrHashes(action.csr_md5, action.csr_sha256)
            for cert_id in self.unfinished():
                found = self.view(cert_id)
                if found is not None and hashes.matches(found):
                    return CertificateObtained(found, adopted=True)
        if not action.allow_create:
            return NoDraftFound()
        cert_id = f"c{self.created + 1}"
        self.certificates[cert_id] = zerossl_json(
            cert_id, "draft", action.domains, action.csr_md5, SHA256
        )
        return CertificateObtained(Certificate.from_json(self.certificates[cert_id]), adopted=False)

    def set_status(self, cert_id: str, status: str) -> Certificate:
        self.certificates[cert_id]["status"] = status
        return Certificate.from_json(self.certificates[cert_id])


@dataclass
class Store:
    """The API server's copy of the order (None once its finalizer is gone); every change
    moves its resourceVersion on."""

    obj: dict[str, Any] | None
    status_writes: int = 0

    def write_status(self, status: dict[str, Any]) -> None:
        assert self.obj is not None
        self.obj["status"] = copy.deepcopy(status)
        self.status_writes += 1
        self.changed()

    def metadata(self) -> dict[str, Any]:
        assert self.obj is not None
        meta: dict[str, Any] = self.obj["metadata"]
        return meta

    def changed(self) -> None:
        meta = self.metadata()
        meta["resourceVersion"] = str(int(meta.get("resourceVersion") or 0) + 1)

    def delete(self) -> None:
        self.metadata()["deletionTimestamp"] = T0
        self.changed()


class Crashes:
    """Crashes at the points the plan marks, counting points across processes."""

    def __init__(self, plan: list[bool]) -> None:
        self._plan: Iterator[bool] = iter(plan)

    def point(self) -> None:
        if next(self._plan, False):
            raise Crash


def execute(action: OrderAction, store: Store, zerossl: ZeroSSL) -> Outcome | None:
    """An action's side effect; the outcome to record, or None for actions reporting nothing."""
    match action:
        case AdoptOrCreate():
            return zerossl.adopt_or_create(action)
        case Verify(cert_id):
            return Verified(zerossl.set_status(cert_id, "pending_validation"))
        case Download(_):
            return Downloaded(CHAIN)
        case CancelAtZeroSSL(cert_id):
            zerossl.set_status(cert_id, "cancelled")
            return CancelledAtZeroSSL()
        case Present(domain):
            return Presented(domain)
        case WaitPropagation(domain):
            return Propagated(domain, visible=True)
        case Cleanup(domain):
            return CleanedUp(domain)
        case AddFinalizer():
            store.metadata()["finalizers"] = ["zerossl.issuer.dev/order-cleanup"]
            store.changed()
        case RemoveFinalizer():
            store.obj = None
        case DeleteOrder():
            store.delete()
        case AwaitIssuance() | FlagIssuer():
            pass
    return None


@dataclass
class Process:
    """What one controller process remembers: whether the order is fresh to it (it created the
    order and has sent no create yet; the process that created the order starts with it), and
    the statuses it deferred. A process taking over after a crash knows nothing."""

    fresh: bool = False
    clock: FakeClock = field(default_factory=lambda: FakeClock(NOW))
    deferred: DeferredStatuses = field(init=False)

    def __post_init__(self) -> None:
        self.deferred = DeferredStatuses(OrderPolicy().defer_max, self.clock, lambda key: None)


@dataclass
class World:
    """The order loop's world in memory (an :class:`OrderWorld`), with the crash points."""

    store: Store
    zerossl: ZeroSSL
    crashes: Crashes
    process: Process

    def facts(self, order: Order) -> OrderFacts:
        self.crashes.point()
        remote = self.zerossl.view(order.status.certificate_id)
        return OrderFacts(ISSUER, remote, fresh=self.process.fresh)

    async def act(self, run: OrderRun, action: OrderAction) -> Outcome | None:
        if isinstance(action, AdoptOrCreate):
            self.process.fresh = False  # from here on, a certificate may exist
        outcome = execute(action, self.store, self.zerossl)
        self.crashes.point()
        if isinstance(action, AddFinalizer):
            run.obj = copy.deepcopy(self.store.obj) or run.obj  # the object the patch wrote
        return outcome

    async def write_status(self, run: OrderRun) -> dict[str, Any]:
        if self.store.obj is None:
            raise StopReconcile(DONE)  # the order is gone
        self.store.write_status(run.obj["status"])
        self.crashes.point()
        return copy.deepcopy(self.store.obj)

    def others_wait_on(self, run: OrderRun) -> bool:
        return False

    def record_events(self, obj: dict[str, Any], events: list[Event]) -> None: ...


async def reconcile(world: World) -> None:
    """One reconcile of the order on the production loop, from the store."""
    assert world.store.obj is not None
    obj = copy.deepcopy(world.store.obj)
    meta = obj["metadata"]
    loop = OrderLoop(world, world.process.clock, OrderPolicy(), world.process.deferred)
    await loop.run(loop.resume(f"{meta['namespace']}/{meta['name']}", obj))


async def run(world: World, *, until_issued: bool) -> None:
    store = world.store
    for _ in range(MAX_RECONCILES):
        if store.obj is None:
            return
        ready = Order.from_object(store.obj).status.ready_reason
        if until_issued and ready == "Issued":
            return
        try:
            await reconcile(world)
        except Crash:
            world.process = Process()  # a new process takes over from the store
        world.zerossl.tick()
    raise AssertionError(f"no progress after {MAX_RECONCILES} reconciles: {store.obj}")


crash_plans = st.lists(st.booleans(), max_size=30)


def world(plan: list[bool]) -> World:
    return World(Store(order_object()), ZeroSSL(), Crashes(plan), Process(fresh=True))


@settings(max_examples=150, deadline=None)
@given(plan=crash_plans)
def test_one_certificate_per_order_whatever_crashes(plan: list[bool]) -> None:
    w = world(plan)
    asyncio.run(run(w, until_issued=True))
    assert w.zerossl.created == 1
    assert w.store.obj is not None
    status = w.store.obj["status"]
    assert status["certificateID"] == "c1"
    assert status["certificate"] == CHAIN


@settings(max_examples=150, deadline=None)
@given(plan=crash_plans, delete_after=st.integers(min_value=0, max_value=8))
def test_deletion_mid_issuance_leaves_nothing_unfinished(
    plan: list[bool], delete_after: int
) -> None:
    w = world(plan)

    async def scenario() -> None:
        for _ in range(delete_after):
            try:
                await reconcile(w)
            except Crash:
                w.process = Process()
            w.zerossl.tick()
        assert w.store.obj is not None
        w.store.delete()
        await run(w, until_issued=False)

    asyncio.run(scenario())
    assert w.store.obj is None
    assert w.zerossl.created <= 1
    assert w.zerossl.unfinished() == []


def test_a_lost_create_is_adopted_not_repeated() -> None:
    # Crash right after the create reached ZeroSSL (the point after the first decision's
    # facts passes, the one after the create fires), before anything was written.
    w = world([False, True])

    async def scenario() -> None:
        try:
            await reconcile(w)
        except Crash:
            w.process = Process()
        assert w.zerossl.created == 1
        assert w.store.obj is not None
        assert "certificateID" not in (w.store.obj.get("status") or {})
        w.crashes = Crashes([])
        await run(w, until_issued=True)

    asyncio.run(scenario())
    assert w.zerossl.created == 1
    assert w.store.obj is not None
    assert w.store.obj["status"]["certificateID"] == "c1"


def test_the_accepted_validation_waits_for_the_certificate_write() -> None:
    # Without crashes: the validation records before Present, then the certificate with the
    # accepted validation in it; the accepted state alone is never written.
    w = world([])

    async def scenario() -> None:
        await reconcile(w)
        assert w.store.obj is not None
        assert w.store.status_writes == 1
        assert len(w.process.deferred) == 1
        assert Order.from_object(w.store.obj).status.ready_reason == "Presenting"
        w.zerossl.tick()
        await run(w, until_issued=True)

    asyncio.run(scenario())
    assert w.store.status_writes == 2
    assert w.store.obj is not None
    status = Order.from_object(w.store.obj).status
    assert status.ready_reason == "Issued"
    assert status.validated_time is not None
    assert {v.state for v in status.validations} == {ValidationState.VALID}


@settings(max_examples=50, deadline=None)
@given(plan=crash_plans)
def test_a_crash_while_the_accepted_validation_is_deferred_issues_once(plan: list[bool]) -> None:
    # The first reconcile runs without crashes and ends with the accepted validation in
    # memory only; the crashes start from there (the next process verifies again).
    w = world([])

    async def scenario() -> None:
        await reconcile(w)
        assert len(w.process.deferred) == 1
        w.crashes = Crashes([True, *plan])  # the first crash loses the deferred status
        try:
            await reconcile(w)
        except Crash:
            w.process = Process()
        await run(w, until_issued=True)

    asyncio.run(scenario())
    assert w.zerossl.created == 1
    assert w.zerossl.unfinished() == []
    assert w.store.obj is not None
    assert w.store.obj["status"]["certificate"] == CHAIN


# --- the deferral on the loop: what ends it ------------------------------------------------------


async def deferred_once() -> World:
    """A world whose order was reconciled once: accepted, its status kept in memory."""
    w = world([])
    await reconcile(w)
    assert len(w.process.deferred) == 1
    return w


def stored_reason(w: World) -> str | None:
    assert w.store.obj is not None
    return Order.from_object(w.store.obj).status.ready_reason


def test_a_deferred_status_is_kept_across_reconciles_then_written_after_its_max_age() -> None:
    async def scenario() -> None:
        w = await deferred_once()
        w.process.clock.advance(OrderPolicy().defer_max - 1)
        await reconcile(w)  # still pending at ZeroSSL: nothing new to say
        assert (w.store.status_writes, stored_reason(w)) == (1, "Presenting")
        assert len(w.process.deferred) == 1
        w.process.clock.advance(1)
        await reconcile(w)
        assert (w.store.status_writes, stored_reason(w)) == (2, "WaitingForIssuance")
        assert len(w.process.deferred) == 0

    asyncio.run(scenario())


def test_a_foreign_write_drops_the_deferred_status_and_the_cache_is_decided_from() -> None:
    async def scenario() -> None:
        w = await deferred_once()
        w.store.changed()  # someone else wrote the order (an annotation, say)
        w.zerossl.tick()
        await reconcile(w)
        assert w.store.obj is not None
        status = Order.from_object(w.store.obj).status
        assert status.ready_reason == "Issued"
        assert status.validated_time is None  # what only the deferred status knew
        assert len(w.process.deferred) == 0

    asyncio.run(scenario())


def test_deleting_the_order_drops_its_deferred_status() -> None:
    async def scenario() -> None:
        w = await deferred_once()
        w.store.delete()
        await run(w, until_issued=False)
        assert w.store.obj is None
        assert w.zerossl.unfinished() == []

    asyncio.run(scenario())
