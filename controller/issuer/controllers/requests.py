"""The CertificateRequest reconciler: decide_certificate_request, then act.

Invariants: it writes only the CertificateRequest status fields it owns (server-side apply),
only for requests of our group; the ZeroSSLOrder it creates carries the issuance's trace
context; outcome metrics count Ready transitions, never reconciles: a request is never decided
from a cache older than this reconciler's own last status write of it, and its order is created
once per term (:class:`~.created.CreatedOrders`: an order created but not yet cached is not
created again). What wakes a request is declared here (:func:`request_watches`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from controller.clock import Clock, parse_rfc3339
from controller.issuer.actions import EnsureOrder
from controller.issuer.api import (
    CERTIFICATE_REQUESTS,
    TRACEPARENT_ANNOTATION,
    ZEROSSL_ORDERS,
    IssuerRef,
)
from controller.issuer.conditions import READY, find, summarize_names
from controller.issuer.controllers.caches import BY_ISSUER, Caches, issuer_key_of
from controller.issuer.controllers.created import CreatedOrders
from controller.issuer.controllers.fresh import FreshOrders
from controller.issuer.controllers.watches import OwnWrites, Watch
from controller.issuer.controllers.writes import apply_status, record_events
from controller.issuer.decide_request import (
    decide_certificate_request,
    nothing_to_decide,
    order_not_created,
    order_refused,
    order_view,
)
from controller.issuer.request import CertificateRequest
from controller.kube.client import KubeClient
from controller.kube.errors import AlreadyExists, ApiError, Conflict, Invalid, NotFound
from controller.kube.events import EventRecorder
from controller.kube.informer import CachedObject
from controller.kube.worker import DONE, RequeueAfter, Result, Retry
from controller.observability import metrics, tracing

log = logging.getLogger(__name__)
ACTION = "Sign"


def request_watches(caches: Caches, wake: Callable[[str], None], writes: OwnWrites) -> list[Watch]:
    """What wakes a request: its own changes, if it names our group and there is something to
    decide in its new state (not while it waits for approval, nor once it is finished, the
    echo of its final status included: :func:`nothing_to_decide`); its order's that can change
    its decision (same key: the order's status mirrors into the request; see
    :func:`order_view`); a change of its issuer. ``writes``: the request reconciler's."""

    def ours(obj: CachedObject) -> None:
        # Another group's issuer is one of the states with nothing to decide.
        if not nothing_to_decide(CertificateRequest.from_object(obj.decode())):
            wake(obj.key)

    def by_issuer(obj: CachedObject) -> None:
        for request in caches.requests.store.index_keys(BY_ISSUER, issuer_key_of(obj)):
            wake(request)

    def order_matters(old: CachedObject | None, new: CachedObject) -> bool:
        """A new order at routine work (the one this reconciler just created), or a change
        that leaves what the request reads of it as it was, changes no decision."""
        view = order_view(new.decode())
        if old is None:
            return bool(view[0] != "working")
        return view != order_view(old.decode())

    return [
        Watch(caches.requests, ours, writes=writes),
        Watch(caches.orders, lambda obj: wake(obj.key), matters=order_matters),
        Watch(caches.issuers, by_issuer),
        Watch(caches.cluster_issuers, by_issuer),
    ]


class RequestReconciler:
    def __init__(
        self,
        kube: KubeClient,
        caches: Caches,
        recorder: EventRecorder,
        clock: Clock,
        fresh: FreshOrders,
        *,
        writes: OwnWrites,
    ) -> None:
        """One per leadership term; ``writes``: the replica's record of this reconciler's
        writes (see request_watches), cleared per term."""
        self._kube = kube
        self._caches = caches
        self._fresh = fresh
        self._recorder = recorder
        self._clock = clock
        self._written = writes
        self._created = CreatedOrders(clock)

    async def reconcile(self, key: str) -> Result:
        obj = self._caches.requests.store.get(key)
        if obj is None:
            self._written.forget(key)
            self._created.forget(key)
            return DONE
        if not self._written.caught_up(key, obj["metadata"].get("resourceVersion")):
            return DONE
        request = CertificateRequest.from_object(obj)
        if nothing_to_decide(request):  # not approved yet, or finished: skip the lookups
            return DONE
        ref = request.issuer_ref
        order = self._caches.order(key)
        issuer = self._caches.issuer(ref) if isinstance(ref, IssuerRef) else None
        decision = decide_certificate_request(request, issuer, order, self._clock.now())
        result: Result = DONE
        awaited = self._created.awaited(key, cached=order is not None)
        if decision.actions and awaited is not None:
            # Created this term, not cached yet: its watch event wakes the request; look again
            # if it never comes (deleted before it was cached).
            decision = dataclasses.replace(decision, actions=())
            result = RequeueAfter(awaited)
        attributes = {tracing.ATTR_REQUEST: key, tracing.ATTR_ISSUER: str(ref)}
        traceparent = order.status.trace_context.get("traceparent") if order else None
        if decision.actions:
            # The issuance starts here: its trace covers this reconcile and the order it creates.
            traceparent = tracing.new_issuance_context({**attributes, tracing.ATTR_ORDER: key})
        with tracing.start_reconcile_span("reconcile.certificaterequest", traceparent, attributes):
            # The order first: the Pending decided with it says the order exists.
            for action in decision.actions:
                try:
                    await self._ensure_order(action, key, traceparent)
                except Invalid as exc:  # the same request always yields the same order
                    decision = order_refused(request, exc.message or str(exc), self._clock.now())
                except ApiError as exc:  # may pass: say so, and retry with backoff
                    now = self._clock.now()
                    decision = order_not_created(request, exc.message or str(exc), now)
                    result = Retry(f"creating ZeroSSLOrder {key} failed: {exc}")
            if decision.status is not None:
                try:
                    written = await apply_status(
                        self._kube, CERTIFICATE_REQUESTS, obj, decision.status
                    )
                except NotFound:
                    return DONE
                except Conflict as exc:
                    return Retry(f"status write conflicted: {exc.message}")
                self._written.wrote(key, written["metadata"].get("resourceVersion"))
                self._count_transition(key, obj, decision.status, ref)
            record_events(self._recorder, obj, decision.events, ACTION)
        return result

    async def _ensure_order(self, action: EnsureOrder, key: str, traceparent: str | None) -> None:
        """Creates the order (AlreadyExists is done); ApiError when the API server refuses."""
        manifest: dict[str, Any] = {**action.manifest}
        meta = {**manifest["metadata"]}
        annotations = {**(meta.get("annotations") or {})}
        if traceparent:
            annotations.setdefault(TRACEPARENT_ANNOTATION, traceparent)
        meta["annotations"] = annotations
        manifest["metadata"] = meta
        with self._fresh.creating(key):
            try:
                created = await self._kube.create(ZEROSSL_ORDERS, manifest, meta["namespace"])
            except AlreadyExists:
                log.debug("order %s exists already", key)
                self._created.created(key)
                return
            self._fresh.created(key, str(created["metadata"]["uid"]))
            self._created.created(key)
        domains = action.manifest["spec"]["domains"]
        log.info(
            "order %s created for %d name(s): %s",
            key,
            len(domains),
            summarize_names(domains),
            extra={"milestone": "order_created"},
        )

    def _count_transition(
        self, key: str, obj: dict[str, Any], status: dict[str, Any], ref: object
    ) -> None:
        """Counts a change of the Ready reason; Issued and Failed are logged (milestones)."""
        before = find((obj.get("status") or {}).get("conditions"), READY)
        after = find(status.get("conditions"), READY)
        if after is None:
            return
        reason = str(after.get("reason"))
        if before is not None and before.get("reason") == reason:
            return
        metrics.certificaterequest_outcomes.labels(reason=reason).inc()
        if reason == "Failed":
            log.info(
                "request %s failed: %s", key, after.get("message"), extra={"milestone": "failed"}
            )
        if reason == "Issued" and isinstance(ref, IssuerRef):
            created = obj["metadata"].get("creationTimestamp")
            elapsed = (
                (self._clock.now() - parse_rfc3339(created)).total_seconds() if created else None
            )
            if elapsed is not None:
                metrics.issuance_duration.labels(issuer_kind=str(ref.kind)).observe(elapsed)
            log.info(
                "request %s issued%s",
                key,
                f" {elapsed:.1f}s after it was created" if elapsed is not None else "",
                extra={"milestone": "issued"},
            )
