"""Leader election on a coordination.k8s.io/v1 Lease (client-go ``tools/leaderelection``).

Invariants:
- Timings satisfy ``lease_duration > renew_deadline > 1.2 * retry_period > 0``.
- Every Lease write is a conditional PUT carrying the resourceVersion last read (a create when
  the Lease does not exist): two candidates can never both win the same record.
- Another holder's lease counts as expired only when its record has not changed for its
  ``leaseDurationSeconds`` of *local monotonic* time since this process first saw it that way;
  ``renewTime`` is never trusted (clock skew between hosts cannot cause two leaders).
- The leader's hold is counted from the moment its last successful renewal was *sent*. Leader
  work is cancelled as soon as ``renew_deadline`` passes without a newer successful renewal, or
  at once when the Lease shows another holder; every Lease call is bounded by the time left
  until then. Because ``renew_deadline < lease_duration``, the work stops before any other
  candidate can consider the lease expired (the gap is the grace period for cancellation).
- The Lease is released (holder "", ``leaseDurationSeconds: 1``) on a graceful stop, and only
  after the leader work has finished; ``leaseTransitions`` grows by one per change of holder.
- Given a ``watch`` client, the elector also watches its Lease (``fieldSelector`` on its name)
  for as long as it runs. The watch only feeds observations: a record is stamped with the local
  monotonic time it was *first* seen, by the watch or by a read, whichever came first (kept per
  resourceVersion), and that stamp is what expiry is counted from. Any stamp is taken after the
  holder sent the write it shows, so the bound above holds however the record was seen, and
  every takeover is still a GET then a conditional PUT. Watch failures (refusals, 410, broken
  or closed streams) are logged and the watch is re-opened after a backoff; they never end or
  delay the elector. The watch has no part in renewals: it runs in a task of its own and its
  requests are bounded by the client's timeout.
- A candidate re-checks the Lease every ``retry_period`` (plus up to 20 % jitter), exactly when
  the observed record would expire (a renewal the watch sees moves that moment), and at once
  when the watch shows the Lease released or deleted. Takeover after a holder dies therefore
  comes within about ``lease_duration`` plus a few milliseconds (the watch delay and one GET
  and PUT) of its last renewal while the watch works, and within ``lease_duration + 1.2 *
  retry_period`` when it does not (the last renewal is seen at the next poll); after a release,
  at once through the watch, else within one retry period.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from controller.clock import Clock, SystemClock, rfc3339_micro
from controller.kube.backoff import Backoff
from controller.kube.errors import ApiError, Conflict, Gone, NotFound
from controller.kube.metrics import NO_METRICS, LeaderMetricsProvider
from controller.kube.objects import ObjectApi, WatchApi
from controller.kube.resource import LEASES
from controller.kube.watchevents import WatchEvent, WatchProtocolError

log = logging.getLogger(__name__)

POLL_JITTER = 0.2
JITTER_FACTOR = 1.2  # client-go: renew_deadline must exceed 1.2 x retry_period
WATCH_TIMEOUT = (60, 120)  # server-side timeoutSeconds of one Lease watch, drawn per request
WATCH_BACKOFF_CAP = 30.0
_SEEN_VERSIONS = 16  # resourceVersions whose first local sighting is remembered


class LeadershipLost(Exception):
    """The Lease could not be renewed in time, or another holder took it: leader work was
    cancelled. The process should exit (or at least never resume leader work unelected)."""


class _Outcome(enum.Enum):
    HELD = "held"
    TAKEN = "taken"  # another holder has a valid lease
    FAILED = "failed"  # could not tell or could not write; try again


class LeaderElector:
    def __init__(
        self,
        client: ObjectApi,
        namespace: str,
        name: str,
        identity: str,
        *,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        watch: WatchApi | None = None,
        metrics: LeaderMetricsProvider = NO_METRICS,
    ) -> None:
        """``watch``: a client to watch the Lease with (see the module docstring); without
        one, the Lease is only polled."""
        if not namespace or not name or not identity:
            raise ValueError("lease namespace, lease name and identity must not be empty")
        if not retry_period > 0:
            raise ValueError(f"retry_period ({retry_period}) must be > 0")
        if not lease_duration > renew_deadline:
            raise ValueError(
                f"lease_duration ({lease_duration}) must be greater than "
                f"renew_deadline ({renew_deadline})"
            )
        if not renew_deadline > JITTER_FACTOR * retry_period:
            raise ValueError(
                f"renew_deadline ({renew_deadline}) must be greater than "
                f"{JITTER_FACTOR} x retry_period ({retry_period})"
            )
        self.client = client
        self.watch_api = watch
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self._clock = clock or SystemClock()
        self._rng = rng or random.Random()  # noqa: S311 (poll jitter, not cryptography)
        self._lease: dict[str, Any] | None = None
        self._observed_spec: dict[str, Any] | None = None
        self._observed_at = 0.0
        self._seen: OrderedDict[str, float] = OrderedDict()  # resourceVersion -> first sighting
        self._changes = 0  # observed record changes so far
        self._changed = asyncio.Event()  # set on every change of the observed record
        self._held_since = 0.0
        self._leading = False
        self._status = metrics.leader_status(name)
        self._transitions = metrics.leader_transitions(name)
        self._slowpath = metrics.leader_slowpath(name)
        self._status.set(0)

    @property
    def is_leader(self) -> bool:
        """True while leading and the last renewal is recent enough to be safe."""
        return self._leading and self._clock.monotonic() < self._held_since + self.renew_deadline

    @property
    def holder(self) -> str:
        """The holder identity last observed on the Lease ('' when unknown or released)."""
        return str((self._observed_spec or {}).get("holderIdentity") or "")

    def healthy(self, tolerance: float = 20.0) -> bool:
        """False when this replica leads but has not renewed for lease_duration + tolerance
        (a stuck leader: the liveness probe should restart it)."""
        if not self._leading:
            return True
        return self._clock.monotonic() - self._held_since <= self.lease_duration + tolerance

    async def run(self, leader_work: Callable[[], Awaitable[None]]) -> None:
        """Waits to acquire the Lease, then runs ``leader_work`` while renewing.

        Returns after ``leader_work`` returns (the Lease is released). Raises
        :class:`LeadershipLost` once the work was cancelled because the Lease was lost; an
        exception from ``leader_work`` propagates after the Lease is released. Cancelling
        ``run`` cancels the work, waits for it, then releases the Lease.
        """
        watching = None
        if self.watch_api is not None:
            watching = asyncio.create_task(self._watch(self.watch_api), name="lease-watch")
        try:
            await self._lead(leader_work)
        finally:
            if watching is not None:
                watching.cancel()
                await asyncio.wait([watching])
                if not watching.cancelled() and watching.exception() is not None:
                    log.error("lease watch failed", exc_info=watching.exception())

    async def _lead(self, leader_work: Callable[[], Awaitable[None]]) -> None:
        await self._acquire()
        self._set_leading(True)
        lost = False
        try:
            async with asyncio.TaskGroup() as tasks:
                renewing = tasks.create_task(self._keep_renewing(), name="lease-renewal")
                await leader_work()
                renewing.cancel()
        except BaseExceptionGroup as group:
            lost = any(isinstance(exc, LeadershipLost) for exc in group.exceptions)
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise
        finally:
            self._set_leading(False)
            if not lost:
                await self._release()

    # --- phases ---------------------------------------------------------------------------------

    async def _acquire(self) -> None:
        log.info("waiting to acquire lease %s/%s as %s", self.namespace, self.name, self.identity)
        while True:
            try:
                async with asyncio.timeout(self.renew_deadline):
                    outcome = await self._try_acquire_or_renew()
            except TimeoutError:
                outcome = _Outcome.FAILED
            if outcome is _Outcome.HELD:
                log.info("acquired lease %s/%s", self.namespace, self.name)
                return
            await self._until_next_attempt()

    async def _keep_renewing(self) -> None:
        while True:
            await asyncio.sleep(self.retry_period)
            await self._renew()

    async def _renew(self) -> None:
        """One renewal window: retries until renewed, or raises LeadershipLost."""
        deadline = self._held_since + self.renew_deadline
        while (remaining := deadline - self._clock.monotonic()) > 0:
            try:
                async with asyncio.timeout(remaining):
                    outcome = await self._try_acquire_or_renew()
            except TimeoutError:
                break
            if outcome is _Outcome.HELD:
                return
            if outcome is _Outcome.TAKEN:
                raise LeadershipLost(f"lease {self.namespace}/{self.name} taken by {self.holder}")
            await asyncio.sleep(
                min(self.retry_period, max(0.0, deadline - self._clock.monotonic()))
            )
        raise LeadershipLost(
            f"lease {self.namespace}/{self.name} not renewed within {self.renew_deadline}s"
        )

    async def _release(self) -> None:
        """Gives the Lease up so that a candidate can take over at once. A conflict (a renewal
        cancelled in flight may still have been applied) re-reads the Lease and retries while
        this candidate is still the holder."""
        lease = self._lease
        if lease is None or self.holder != self.identity:
            return
        try:
            async with asyncio.timeout(self.renew_deadline):
                while True:
                    try:
                        released = await self.client.replace(LEASES, self._released(lease))
                    except Conflict:
                        lease = await self.client.get(LEASES, self.name, self.namespace)
                        if (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                            return
                        continue
                    self._observe(released, self._clock.monotonic())
                    log.info("released lease %s/%s", self.namespace, self.name)
                    return
        except (ApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("could not release lease %s/%s: %s", self.namespace, self.name, exc)

    def _released(self, lease: dict[str, Any]) -> dict[str, Any]:
        """``lease`` with no holder and a one-second duration; transitions unchanged."""
        now = rfc3339_micro(self._clock.now())
        spec = lease.get("spec") or {}
        released = {
            "holderIdentity": "",
            "leaseDurationSeconds": 1,
            "acquireTime": now,
            "renewTime": now,
        }
        return {**lease, "spec": {**spec, **released}}

    # --- one attempt ----------------------------------------------------------------------------

    async def _try_acquire_or_renew(self) -> _Outcome:
        sent_at = self._clock.monotonic()
        now = rfc3339_micro(self._clock.now())
        if self._lease is not None and self.holder == self.identity and self._valid(sent_at):
            try:  # fast path: the cached Lease's resourceVersion makes this conditional
                return self._won(await self.client.replace(LEASES, self._claim(now)), sent_at)
            except (ApiError, aiohttp.ClientError) as exc:
                self._slowpath.inc()
                log.debug("lease fast-path renewal failed: %s", exc)
        try:
            self._lease = await self.client.get(LEASES, self.name, self.namespace)
        except NotFound:
            return await self._create(now, sent_at)
        except (ApiError, aiohttp.ClientError) as exc:
            log.info("cannot read lease %s/%s: %s", self.namespace, self.name, exc)
            return _Outcome.FAILED
        self._observe(self._lease, self._clock.monotonic())
        holder = self.holder
        if holder and holder != self.identity and self._valid(self._clock.monotonic()):
            return _Outcome.TAKEN
        try:
            return self._won(await self.client.replace(LEASES, self._claim(now)), sent_at)
        except (ApiError, aiohttp.ClientError) as exc:
            log.info("lost the race for lease %s/%s: %s", self.namespace, self.name, exc)
            return _Outcome.FAILED

    async def _create(self, now: str, sent_at: float) -> _Outcome:
        body = {
            "apiVersion": LEASES.api_version,
            "kind": LEASES.kind,
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": self._record(acquire_time=now, renew_time=now, transitions=0),
        }
        try:
            return self._won(await self.client.create(LEASES, body), sent_at)
        except (ApiError, aiohttp.ClientError) as exc:
            log.info("could not create lease %s/%s: %s", self.namespace, self.name, exc)
            return _Outcome.FAILED

    def _claim(self, now: str) -> dict[str, Any]:
        """The cached Lease rewritten with this candidate as holder (same resourceVersion)."""
        assert self._lease is not None
        spec = self._lease.get("spec") or {}
        transitions = int(spec.get("leaseTransitions") or 0)
        if spec.get("holderIdentity") == self.identity:
            acquire_time = spec.get("acquireTime") or now
        else:
            acquire_time, transitions = now, transitions + 1
        record = self._record(acquire_time=acquire_time, renew_time=now, transitions=transitions)
        return {**self._lease, "spec": {**spec, **record}}

    def _record(self, *, acquire_time: str, renew_time: str, transitions: int) -> dict[str, Any]:
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": math.ceil(self.lease_duration),
            "acquireTime": acquire_time,
            "renewTime": renew_time,
            "leaseTransitions": transitions,
        }

    def _won(self, lease: dict[str, Any], sent_at: float) -> _Outcome:
        self._lease = lease
        self._observe(lease, sent_at)
        self._held_since = sent_at
        return _Outcome.HELD

    # --- observation ----------------------------------------------------------------------------

    def _observe(self, lease: dict[str, Any], at: float) -> None:
        """Remembers when the record last changed, by the local monotonic clock: a version of
        the Lease seen before (by the watch or a read) keeps the time it was first seen."""
        version = str((lease.get("metadata") or {}).get("resourceVersion") or "")
        if version:
            at = self._seen.setdefault(version, at)
            if len(self._seen) > _SEEN_VERSIONS:
                self._seen.popitem(last=False)
        self._record_observed(lease.get("spec") or {}, at)

    def _record_observed(self, spec: dict[str, Any], at: float) -> None:
        if spec == self._observed_spec:
            return
        previous = self.holder
        self._observed_spec, self._observed_at = spec, at
        self._changes += 1
        self._changed.set()
        holder = self.holder
        if holder and holder != previous:
            self._transitions.inc()
            log.info("lease %s/%s is now held by %s", self.namespace, self.name, holder)

    def _valid(self, at: float) -> bool:
        """Whether the observed record is still within its lease duration at ``at``."""
        duration = float((self._observed_spec or {}).get("leaseDurationSeconds") or 0)
        return at < self._observed_at + duration

    async def _until_next_attempt(self) -> None:
        """Waits before the next acquisition attempt: the retry period with jitter, or less if
        the observed lease expires sooner (renewals seen meanwhile move the expiry), or until
        the Lease is seen released or deleted."""
        changes = self._changes
        poll_at = self._clock.monotonic() + self.retry_period * (
            1.0 + POLL_JITTER * self._rng.random()
        )
        while True:
            now = self._clock.monotonic()
            wake_at = poll_at
            holder = self.holder
            if holder and holder != self.identity:
                duration = float((self._observed_spec or {}).get("leaseDurationSeconds") or 0)
                expiry = max(self._observed_at + duration, now)  # (never a busy loop)
                wake_at = min(wake_at, expiry + 0.001)
            elif not holder and self._changes != changes:
                return  # released (or deleted) since the last attempt: try at once
            if wake_at <= now:
                return
            self._changed.clear()
            try:
                async with asyncio.timeout(wake_at - now):
                    await self._changed.wait()
            except TimeoutError:
                return

    # --- the watch ------------------------------------------------------------------------------

    async def _watch(self, api: WatchApi) -> None:
        """Watches the Lease until cancelled, feeding each version to the observation stamped
        with its arrival. Never raises: every failure is logged and the watch re-opened after
        a backoff (polls carry on meanwhile)."""
        backoff = Backoff(
            self.retry_period,
            cap=max(self.retry_period, WATCH_BACKOFF_CAP),
            clock=self._clock.monotonic,
            rng=self._rng,
        )
        selector = f"metadata.name={self.name}"
        resource_version = ""  # "": the current state first (an ADDED event), then changes
        while True:
            started, events = self._clock.monotonic(), 0
            try:
                async with api.watch(
                    LEASES,
                    self.namespace,
                    resource_version=resource_version,
                    timeout_seconds=self._rng.randint(*WATCH_TIMEOUT),
                    field_selector=selector,
                ) as stream:
                    async for event in stream:
                        events += 1
                        resource_version = self._watched(event, self._clock.monotonic())
            except Gone:
                resource_version = ""
                log.debug("lease watch expired (410); starting over")
            except (
                ApiError,
                aiohttp.ClientError,
                TimeoutError,
                WatchProtocolError,
                KeyError,
                TypeError,
                ValueError,
            ) as exc:
                log.info(
                    "lease watch on %s/%s failed, polling meanwhile: %s: %s",
                    self.namespace,
                    self.name,
                    type(exc).__name__,
                    exc,
                )
            else:
                if events and self._clock.monotonic() - started >= 1.0:
                    continue  # ended by the server's timeout: resume at once
            await asyncio.sleep(backoff.next())

    def _watched(self, event: WatchEvent, at: float) -> str:
        """Applies one watch event; returns its resourceVersion (the resume point)."""
        lease = event.obj if event.obj is not None else event.as_dict()["object"]
        version = str(lease["metadata"]["resourceVersion"])
        if event.type in ("ADDED", "MODIFIED"):
            self._observe(lease, at)
        elif event.type == "DELETED":
            self._record_observed({}, at)  # no holder: the next attempt creates the Lease
        elif event.type != "BOOKMARK":
            raise WatchProtocolError(f"unknown watch event type {event.type!r}")
        return version

    def _set_leading(self, leading: bool) -> None:
        self._leading = leading
        self._status.set(1 if leading else 0)
