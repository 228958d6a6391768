"""The issuer reconciler: decide_issuer, run the API-key check, record its answer.

Invariants: the check is the only ZeroSSL call made here, and it goes through the account's
token bucket like every other; a flag raised by signing (:meth:`IssuerReconciler.flag`) is
kept until a check newer than it runs, and wakes the issuer at once; status is replaced
whole, conditional on the resourceVersion it was decided from. What wakes an issuer is declared
here (:func:`issuer_watches`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from controller.clock import Clock
from controller.issuer.accounts import ZeroSSLAccounts
from controller.issuer.api import IssuerKind, IssuerRef, secret_namespace
from controller.issuer.conditions import IssuerReason
from controller.issuer.controllers.caches import (
    BY_SECRET,
    Caches,
    issuer_key,
    issuer_key_of,
    parse_issuer_key,
)
from controller.issuer.controllers.watches import Watch
from controller.issuer.controllers.writes import record_events, replace_status
from controller.issuer.decide_issuer import (
    ApiKey,
    IssuerDecision,
    IssuerFlag,
    IssuerPolicy,
    KeyState,
    decide_issuer,
    record_check,
    solver_secret_state,
)
from controller.issuer.issuers import Issuer
from controller.issuer.secrets import SecretCache
from controller.issuer.spec import IssuerSpec, SolverSecret
from controller.kube.client import KubeClient
from controller.kube.errors import Conflict, NotFound
from controller.kube.events import EventRecorder
from controller.kube.informer import CachedObject
from controller.kube.worker import DONE, RequeueAfter, Result, Retry
from controller.kube.workqueue import RateLimitingQueue
from controller.observability import tracing
from controller.zerossl.errors import ZeroSSLError
from controller.zerossl.models import CertificateStatus

ACTION = "Check"


def issuer_watches(caches: Caches, wake: Callable[[str], None]) -> list[Watch]:
    """What wakes an issuer: its own changes; a change of its API-key Secret (a rotated key is
    checked again at once)."""

    def by_secret(obj: CachedObject) -> None:
        for store in (caches.issuers.store, caches.cluster_issuers.store):
            for issuer in store.by_index(BY_SECRET, obj.key):
                wake(issuer_key(Issuer.from_object(issuer).ref))

    return [
        Watch(caches.issuers, lambda obj: wake(issuer_key_of(obj))),
        Watch(caches.cluster_issuers, lambda obj: wake(issuer_key_of(obj))),
        Watch(caches.secrets, by_secret, resync=False),
    ]


class IssuerReconciler:
    def __init__(
        self,
        kube: KubeClient,
        caches: Caches,
        *,
        accounts: ZeroSSLAccounts,
        secrets: SecretCache,
        recorder: EventRecorder,
        queue: RateLimitingQueue[str],
        clock: Clock,
        policy: IssuerPolicy,
        rng: random.Random | None = None,
    ) -> None:
        self._kube = kube
        self._caches = caches
        self._accounts = accounts
        self._secrets = secrets
        self._recorder = recorder
        self._queue = queue
        self._clock = clock
        self._policy = policy
        self._rng = rng or random.Random()  # noqa: S311 (check-time jitter)
        self._flags: dict[str, IssuerFlag] = {}

    def flag(self, ref: IssuerRef, reason: IssuerReason, message: str) -> None:
        """Signing ran into an account error: re-check the issuer (it may turn not-Ready)."""
        key = issuer_key(ref)
        self._flags[key] = IssuerFlag(reason, message, self._clock.now())
        self._queue.add(key)

    async def reconcile(self, key: str) -> Result:
        ref = parse_issuer_key(key)
        obj = self._caches.issuer_object(ref)
        if obj is None:
            self._flags.pop(key, None)
            return DONE
        issuer = Issuer.from_object(obj)
        with tracing.start_reconcile_span(
            "reconcile.issuer", None, {tracing.ATTR_ISSUER: str(ref)}
        ):
            key_read = (
                await self._accounts.api_key(ref, issuer.spec)
                if issuer.spec is not None
                else ApiKey(KeyState.SECRET_MISSING)
            )
            solver_secrets = (
                await self._solver_secrets(ref, issuer.spec) if issuer.spec is not None else None
            )
            flag = self._flags.get(key)
            now = self._clock.now()
            decision = decide_issuer(
                issuer,
                key_read,
                flag,
                now,
                cluster_resource_namespace=self._caches.cluster_resource_namespace,
                rand=self._rng.random,
                policy=self._policy,
                solver_secrets=solver_secrets,
            )
            written = await self._apply(obj, decision)
            if written is None:
                return Retry("issuer status write conflicted")
            for check in decision.actions:
                error = await self._check(key_read)
                checked = record_check(
                    Issuer.from_object(written),
                    check,
                    error,
                    self._clock.now(),
                    rand=self._rng.random,
                    policy=self._policy,
                )
                if flag is not None and self._flags.get(key) is flag:
                    del self._flags[key]
                if await self._apply(written, checked) is None:
                    return Retry("issuer status write conflicted")
                decision = checked
        return RequeueAfter(decision.requeue_after) if decision.requeue_after else DONE

    async def _solver_secrets(
        self, ref: IssuerRef, spec: IssuerSpec
    ) -> dict[SolverSecret, KeyState]:
        """Whether each Secret key the solvers read is there (read through the Secret cache)."""
        namespace = secret_namespace(ref, self._caches.cluster_resource_namespace)
        states: dict[SolverSecret, KeyState] = {}
        for secret in spec.solver_secrets():
            obj = await self._secrets.get(namespace, secret.ref.name)
            states[secret] = solver_secret_state(obj, secret.ref.key)
        return states

    async def _apply(self, obj: dict[str, Any], decision: IssuerDecision) -> dict[str, Any] | None:
        """Writes the decision's status and Events; the object as now stored (None: conflict)."""
        written = obj
        if decision.status is not None:
            try:
                resource = self._caches.issuer_store(IssuerKind(str(obj.get("kind")))).resource
                written = await replace_status(self._kube, resource, obj, decision.status)
            except NotFound:
                return obj
            except Conflict:
                return None
        record_events(self._recorder, obj, decision.events, ACTION)
        return written

    async def _check(self, key: ApiKey) -> ZeroSSLError | None:
        """The cheap authenticated call; ZeroSSL answers a bad key with HTTP 200 + error."""
        client = self._accounts.client_for_key(key.value)
        try:
            await client.list_certificates([CertificateStatus.ISSUED], limit=1)
        except ZeroSSLError as exc:
            return exc
        return None
