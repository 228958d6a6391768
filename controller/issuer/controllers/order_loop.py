"""The order loop: decide_order, carry the actions out, fold each outcome into the status and
decide again, until the order has to wait (for ZeroSSL, the poller, a backoff, a watch event).

The loop knows nothing of Kubernetes, ZeroSSL or the solvers: an :class:`OrderWorld` gives it
the facts, runs the actions and writes the status. The production reconciler and the crash
property test (tests/unit/issuer/test_order_crash.py) both run this loop.

Invariants:
- Write-ahead only where a crash needs it: the status is written before an action that
  ``needs_write_ahead`` (``presented`` and the validation records before Present, so cleanup
  finds them and every replica's solver serves them) and before metadata actions; every other
  outcome is folded into the status in memory and written once, when the loop ends. A crash
  loses only outcomes that are safe to redo (verify answers 2830 and is read back, downloads
  and cleanups are idempotent). An action that failed ends the loop once its outcome is
  written; a write the world refuses ends it with :class:`StopReconcile`'s result.
- Deferred, not written: when the loop ends on a status that is ``deferrable`` (it only adds
  that ZeroSSL accepted the validation) and no other order waits for what it says
  (``OrderWorld.others_wait_on``), it stays in memory (:class:`DeferredStatuses`) and the next
  reconcile of the order decides from it, while the cache still shows the resourceVersion it
  was folded onto; the next write carries it (the certificate's). It is written once it has
  waited ``OrderPolicy.defer_max``.
- ``OrderRun.echo_wakes``: the run ended where only the watch event of its own write wakes
  the order again (a new status with nothing to do, a failed action, a metadata write, out of
  rounds, or no requeue while the last decision still had something to do); otherwise what it
  waits for (a requeue, the poller) wakes it, or a decision from the written object would
  decide nothing (``settled``), and that event need not (the reconciler's ``OwnWrites``).
- A decision's Events are recorded once the status they describe is written.
- Outcomes are folded by ``record_outcome`` before anything else; its follow-up actions
  (flagging the issuer) run at once. At most :data:`MAX_STEPS` decide-act rounds a reconcile.
- An exception from the world propagates (the worker retries with backoff) after what the
  earlier actions did is written; a BaseException (a crash, a cancellation) writes nothing.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from controller.clock import Clock
from controller.issuer.actions import (
    METADATA_ACTIONS,
    ActionFailed,
    OrderAction,
    Outcome,
    needs_write_ahead,
)
from controller.issuer.controllers.deferred import DeferredStatuses
from controller.issuer.controllers.milestones import log_milestone
from controller.issuer.decide_order import CANCEL_SKIPPED, OrderFacts, decide_order
from controller.issuer.decision import Event
from controller.issuer.order_outcomes import record_outcome
from controller.issuer.order_steps import OrderDecision, OrderPolicy, deferrable
from controller.issuer.orders import Order
from controller.kube.worker import DONE, RequeueAfter, Result
from controller.observability import metrics

log = logging.getLogger(__name__)

MAX_STEPS = 12  # decide-act rounds per reconcile; a whole issuance takes about 6


class StopReconcile(Exception):
    """Ends the reconcile early with ``result`` (a vanished order, a write conflict)."""

    def __init__(self, result: Result) -> None:
        super().__init__(result)
        self.result = result


@dataclass
class OrderRun:
    """One reconcile's progress: the object with every outcome so far folded in, whether its
    status differs from the one the API server has (``stored``), since when it has been
    deferred, the Events still to record once it is written, and the earliest requeue asked."""

    key: str
    order: Order  # as first decided from (read from ``obj``); its spec and identity never change
    obj: dict[str, Any]
    stored: Mapping[str, Any]  # the status as last read or written
    wait: float | None = None
    unwritten: bool = False
    deferred_since: float | None = None  # the clock's monotonic time of its first deferral
    awaits_echo: bool = False  # it ends waiting for its write's event (see OrderLoop)
    settled: bool = False  # its last decision, made from what it writes, decided nothing
    events: list[Event] = field(default_factory=list)
    _current: tuple[Mapping[str, Any], Order] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._current = (self.obj, self.order)  # ``order`` was read from ``obj``

    def fold(self, decision: OrderDecision) -> None:
        if decision.status is not None:
            self.obj = {**self.obj, "status": decision.status}
            self.unwritten = True
        for event in decision.events:
            if event.reason == CANCEL_SKIPPED:
                log.warning("order %s: %s", self.key, event.note)
                metrics.certificate_cancels.labels(outcome="skipped").inc()
        self.events.extend(decision.events)
        self.requeue(decision.requeue_after)

    def current(self) -> Order:
        """The order with every outcome so far folded in: the first read's metadata and spec
        (a metadata write ends the run) with the status of :attr:`obj`. Parsed once per
        :attr:`obj` (a run asks for it several times between two folds)."""
        if self._current[0] is self.obj:
            return self._current[1]
        order = self.order.with_status_of(self.obj)
        self._current = (self.obj, order)
        return order

    def requeue(self, seconds: float | None) -> None:
        if seconds is not None and (self.wait is None or seconds < self.wait):
            self.wait = seconds

    @property
    def echo_wakes(self) -> bool:
        """Only the watch event of its own last write wakes the order again: the run ended on
        one of ``awaits_echo``'s cases, or asked for no requeue without being ``settled``
        (deciding again from the written object, as the event would, decides nothing: no
        action, no status, no requeue; an issued order once cleaned up, say)."""
        return self.awaits_echo or (self.wait is None and not self.settled)

    def result(self) -> Result:
        return RequeueAfter(self.wait) if self.wait is not None else DONE


class OrderWorld(Protocol):
    """What the loop's decisions talk to."""

    def facts(self, order: Order) -> OrderFacts:
        """What decide_order needs to know beyond the order itself, as of now."""
        ...

    async def act(self, run: OrderRun, action: OrderAction) -> Outcome | None:
        """Runs one action; its outcome, or None for actions that report nothing. A metadata
        action sets ``run.obj`` to the object it wrote."""
        ...

    async def write_status(self, run: OrderRun) -> dict[str, Any]:
        """Writes ``run.obj``'s status; the object written. Raises StopReconcile when the
        write cannot be made (the order vanished, or changed since it was read)."""
        ...

    def others_wait_on(self, run: OrderRun) -> bool:
        """True when another order waits for what ``run``'s unwritten status says (the HTTP
        validation turn of its CSR): the status is then written, never deferred."""
        ...

    def record_events(self, obj: dict[str, Any], events: list[Event]) -> None: ...


class OrderLoop:
    """decide -> act -> fold for one order at a time, against ``world``."""

    def __init__(
        self,
        world: OrderWorld,
        clock: Clock,
        policy: OrderPolicy,
        deferred: DeferredStatuses,
    ) -> None:
        self._world = world
        self._clock = clock
        self._policy = policy
        self._deferred = deferred

    def resume(self, key: str, cached: dict[str, Any]) -> OrderRun:
        """A reconcile of the order ``cached`` (the cache's object, its key ``key``): from its
        deferred status, if one was folded onto this resourceVersion (any other is dropped)."""
        stored = cached.get("status") or {}
        deferred = self._deferred.take(key, cached)
        if deferred is None:
            return OrderRun(key, Order.from_object(cached), cached, stored)
        order = Order.from_object(deferred.obj)
        return OrderRun(
            key, order, deferred.obj, stored, unwritten=True, deferred_since=deferred.since
        )

    async def run(self, run: OrderRun, facts: OrderFacts | None = None) -> Result:
        """Reconciles ``run``'s order (see :meth:`resume`) until it waits; the worker's result.
        ``facts``: for the first decision, if the caller read them already (else the world's)."""
        order = run.order
        try:
            await self._advance(run, self._decide(order, facts))
        except StopReconcile as stop:
            return stop.result
        return run.result()

    def _decide(self, order: Order, facts: OrderFacts | None = None) -> OrderDecision:
        known = facts if facts is not None else self._world.facts(order)
        return decide_order(order, known, self._clock.now(), self._policy)

    async def _advance(self, run: OrderRun, decision: OrderDecision) -> None:
        """Carries out ``decision``, then decides again from the outcomes, until the order
        waits; writes what is unwritten at the end (also when an action raised)."""
        try:
            for _ in range(MAX_STEPS):
                run.fold(decision)
                if not decision.actions:
                    # A new status with nothing to do: the next decision (a finished order's
                    # cleanup, say) is made when its write's event wakes it.
                    run.awaits_echo = run.awaits_echo or decision.status is not None
                    run.settled = decision.status is None
                    break
                if not await self._perform(run, decision.actions):
                    break
                decision = self._decide(run.current())
            else:
                run.awaits_echo = True  # out of rounds: its write's event goes on
        except StopReconcile:
            raise
        except Exception:
            with contextlib.suppress(Exception):
                await self._flush(run)  # keep what the earlier actions did; the worker retries
            raise
        if not self._defer(run):
            await self._flush(run)

    def _defer(self, run: OrderRun) -> bool:
        """Keeps the unwritten status in memory instead of writing it, if it may (see the
        module's invariants); True if it did."""
        if not run.unwritten or run.events:
            return False
        if not deferrable(run.current(), run.stored):
            return False
        if self._world.others_wait_on(run):
            return False
        since = run.deferred_since
        return self._deferred.keep(
            run.key, run.obj, since if since is not None else self._clock.monotonic()
        )

    async def _perform(self, run: OrderRun, actions: tuple[OrderAction, ...]) -> bool:
        """Runs ``actions`` in order, folding each outcome in. True when the order moved on
        and can be decided again at once; False when it has to wait (nothing came of the
        actions, one failed or asked for a requeue, or the object's metadata was written)."""
        if any(needs_write_ahead(action) for action in actions):
            await self._flush(run)
        moved_on, waits = False, False
        for action in actions:
            if isinstance(action, METADATA_ACTIONS):
                await self._flush(run)
                waits = run.awaits_echo = True
            outcome = await self._world.act(run, action)
            if outcome is None:
                continue
            log_milestone(run.key, outcome)
            recorded = record_outcome(run.current(), outcome, self._clock.now(), self._policy)
            run.fold(recorded)
            if recorded.actions:  # follow-ups of the outcome (flagging the issuer)
                await self._perform(run, recorded.actions)
            if isinstance(outcome, ActionFailed):
                run.awaits_echo = True  # what follows the failure is decided from its write
                return False
            moved_on = True
            waits = waits or recorded.requeue_after is not None
        return moved_on and not waits

    async def _flush(self, run: OrderRun) -> None:
        """Writes the status if it changed since the last write, then records the Events."""
        if run.unwritten:
            run.obj = await self._world.write_status(run)
            run.stored = run.obj.get("status") or {}
            run.unwritten = False
            run.deferred_since = None
        self._world.record_events(run.obj, run.events)
        run.events.clear()
