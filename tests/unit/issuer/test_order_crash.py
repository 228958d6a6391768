"""The invariant: one ZeroSSL certificate per order, whatever crashes.

A minimal act layer drives decide_order and record_outcome against an in-memory ZeroSSL and
an in-memory object store the way the real one does (decide, act, fold outcomes in, decide
again; write before actions that need it and at the end). Hypothesis crashes the process at
any of those points: a crash loses everything not yet written and the process's memory (which
orders are fresh), and the next process starts from the store. Two orders sharing one CSR, with
the act layer's ownership rules, are crashed on the production loop itself in
tests/unit/issuer_runtime/test_order_crash_twins.py.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.issuer.actions import (
    METADATA_ACTIONS,
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
    needs_write_ahead,
)
from controller.issuer.decide_order import OrderFacts, decide_order
from controller.issuer.issuers import Issuer
from controller.issuer.order_outcomes import record_outcome
from controller.issuer.orders import Order
from controller.zerossl.csr import CsrHashes
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
MAX_STEPS = 12  # decide-act rounds per reconcile, as in the act layer


class Crash(Exception):
    """The process died here."""


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
    """The API server's copy of the order (None once its finalizer is gone)."""

    obj: dict[str, Any] | None

    def write_status(self, status: dict[str, Any]) -> None:
        assert self.obj is not None
        self.obj["status"] = copy.deepcopy(status)

    def metadata(self) -> dict[str, Any]:
        assert self.obj is not None
        meta: dict[str, Any] = self.obj["metadata"]
        return meta


class Crashes:
    """Crashes at the points the plan marks, counting points across processes."""

    def __init__(self, plan: list[bool]) -> None:
        self._plan: Iterator[bool] = iter(plan)

    def point(self) -> None:
        if next(self._plan, False):
            raise Crash


def execute(action: OrderAction, store: Store, zerossl: ZeroSSL) -> Outcome | None:
    """The act layer's side effect; the outcome to record, or None for metadata actions."""
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
        case RemoveFinalizer():
            store.obj = None
        case DeleteOrder():
            store.metadata()["deletionTimestamp"] = T0
        case AwaitIssuance() | FlagIssuer():
            pass
    return None


@dataclass
class Process:
    """What one controller process remembers: whether the order is fresh to it (it created the
    order and has sent no create yet). The process that created the order starts with it; a
    process taking over after a crash knows nothing."""

    fresh: bool = False


def reconcile(store: Store, zerossl: ZeroSSL, crashes: Crashes, process: Process) -> None:
    """One reconcile of the order, as the act layer runs it: decide, act, fold the outcomes in
    and decide again; the status is written before actions that need it written first, before
    metadata actions, and at the end. A crash loses everything not yet written."""
    assert store.obj is not None
    obj = copy.deepcopy(store.obj)
    unwritten = False

    def flush() -> None:
        nonlocal unwritten
        if unwritten:
            store.write_status(obj["status"])
            unwritten = False

    for _ in range(MAX_STEPS):
        order = Order.from_object(obj)
        remote = zerossl.view(order.status.certificate_id)
        decision = decide_order(order, OrderFacts(ISSUER, remote, fresh=process.fresh), NOW)
        crashes.point()
        if decision.status is not None:
            obj["status"], unwritten = decision.status, True
        if not decision.actions:
            break
        if any(needs_write_ahead(action) for action in decision.actions):
            flush()
        moved_on = True
        for action in decision.actions:
            if isinstance(action, METADATA_ACTIONS):
                flush()
                moved_on = False
            if isinstance(action, AdoptOrCreate):
                process.fresh = False
            outcome = execute(action, store, zerossl)
            crashes.point()
            if store.obj is None:
                return
            obj["metadata"] = copy.deepcopy(store.obj["metadata"])
            if outcome is None:
                continue
            recorded = record_outcome(Order.from_object(obj), outcome, NOW)
            if recorded.status is not None:
                obj["status"], unwritten = recorded.status, True
        if not moved_on:
            break
    flush()


def run(
    store: Store, zerossl: ZeroSSL, crashes: Crashes, *, until_issued: bool, process: Process
) -> None:
    for _ in range(MAX_RECONCILES):
        if store.obj is None:
            return
        ready = Order.from_object(store.obj).status.ready_reason
        if until_issued and ready == "Issued":
            return
        try:
            reconcile(store, zerossl, crashes, process)
        except Crash:
            process = Process()  # a new process takes over from the store
        zerossl.tick()
    raise AssertionError(f"no progress after {MAX_RECONCILES} reconciles: {store.obj}")


crash_plans = st.lists(st.booleans(), max_size=30)


@settings(max_examples=150, deadline=None)
@given(plan=crash_plans)
def test_one_certificate_per_order_whatever_crashes(plan: list[bool]) -> None:
    store, zerossl = Store(order_object()), ZeroSSL()
    run(store, zerossl, Crashes(plan), until_issued=True, process=Process(fresh=True))
    assert zerossl.created == 1
    assert store.obj is not None
    status = store.obj["status"]
    assert status["certificateID"] == "c1"
    assert status["certificate"] == CHAIN


@settings(max_examples=150, deadline=None)
@given(plan=crash_plans, delete_after=st.integers(min_value=0, max_value=8))
def test_deletion_mid_issuance_leaves_nothing_unfinished(
    plan: list[bool], delete_after: int
) -> None:
    store, zerossl = Store(order_object()), ZeroSSL()
    crashes, process = Crashes(plan), Process(fresh=True)
    for _ in range(delete_after):
        try:
            reconcile(store, zerossl, crashes, process)
        except Crash:
            process = Process()
        zerossl.tick()
    assert store.obj is not None
    store.metadata()["deletionTimestamp"] = T0
    run(store, zerossl, crashes, until_issued=False, process=process)
    assert store.obj is None
    assert zerossl.created <= 1
    assert zerossl.unfinished() == []


def test_a_lost_create_is_adopted_not_repeated() -> None:
    store, zerossl = Store(order_object()), ZeroSSL()
    # Crash right after the create reached ZeroSSL, before anything was written.
    crashes = Crashes([False, True])
    with contextlib.suppress(Crash):
        reconcile(store, zerossl, crashes, Process(fresh=True))
    assert zerossl.created == 1
    assert store.obj is not None
    assert "certificateID" not in (store.obj.get("status") or {})
    run(store, zerossl, Crashes([]), until_issued=True, process=Process())
    assert zerossl.created == 1
    assert store.obj["status"]["certificateID"] == "c1"
