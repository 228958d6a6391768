"""``LoadRun``: the real system under load, with the harness's observers around it.

::

    async with LoadRun(SystemSettings(replicas=3), "tp") as run:
        planned = run.plan(1000)      # or plan before entering, to keep CSR work off the clock
        await run.begin()             # reset the emulators' counts, baseline the metrics
        await run.submit(planned)
        await run.wait_finished(planned, timeout=600)
        seen = await run.observe()    # everything measured since begin()

The API server and the ZeroSSL emulator run as child processes (so CPU is measured per
process and the harness stays light); replicas are ``python -m controller run`` processes.
Observers (the request watcher, the process sampler, the metrics scraper) run as tasks of the
run and are cancelled and awaited when the block ends, before the stack stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal, Self, TypeVar

from controller.sandbox.stack import ControllerOptions, EmulatorSettings, Stack, StackOptions
from controller.sandbox.stack.replica import CONTROLLER_COMMAND

from .accounting import (
    KubeCounts,
    ZeroSSLLog,
    kube_counts,
    reset_kube_counts,
    reset_zerossl_log,
    zerossl_log,
)
from .revision import ControllerSource
from .sampling import DepthSample, ProcessSampler, ReplicaMetrics, Usage
from .watcher import Finished, RequestWatcher
from .workload import Fleet, PlannedRequest, Submitter, plan, selector

UNLIMITED_QPS: Final = 1_000_000.0
"""The ZeroSSL limiter "off": a rate no run comes near."""
QUIET_PERIOD: Final = 1.0
"""How long the controller must be idle before the final counts, so nothing is in flight."""
QUIESCE_TIMEOUT: Final = 60.0
ZEROSSL_REQUESTS: Final = "zerossl_issuer_zerossl_requests_total"
KUBE_REQUESTS: Final = "zerossl_issuer_kube_requests_total"
Mode = Literal["in-process", "subprocess", "real"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SystemSettings:
    """The system a run starts. ``zerossl_qps`` None turns the controller's ZeroSSL limiter
    off; ``rate_limit`` makes the emulator answer 429 above that rate (None: never);
    ``controller_source`` runs the replicas from another commit's controller (None: this
    checkout's), everything else staying this checkout's."""

    replicas: int = 1
    namespaces: int = 4
    workers: int = 8
    zerossl_qps: float | None = None
    zerossl_burst: int = 5
    kube_qps: float = 5000.0
    kube_burst: int = 5000
    poll_interval: float = 1.0
    issuance_delay: str = "zero"
    rate_limit: float | None = None
    lease_duration: float = 4.0
    renew_deadline: float = 3.0
    retry_period: float = 0.5
    zerossl_timeout: float = 30.0
    log_level: str = "info"
    kube_mode: Mode = "subprocess"
    env: Mapping[str, str] = field(default_factory=dict)
    controller_source: ControllerSource | None = None

    def controller_options(self) -> ControllerOptions:
        qps = UNLIMITED_QPS if self.zerossl_qps is None else self.zerossl_qps
        burst = int(UNLIMITED_QPS) if self.zerossl_qps is None else self.zerossl_burst
        source = self.controller_source
        return ControllerOptions(
            command=CONTROLLER_COMMAND if source is None else source.command,
            lease_duration=self.lease_duration,
            renew_deadline=self.renew_deadline,
            retry_period=self.retry_period,
            poll_interval=self.poll_interval,
            workers=self.workers,
            zerossl_qps=qps,
            zerossl_burst=burst,
            log_level=self.log_level,
            env={
                "ZEROSSL_ISSUER_KUBE_QPS": str(self.kube_qps),
                "ZEROSSL_ISSUER_KUBE_BURST": str(self.kube_burst),
                "ZEROSSL_ISSUER_ZEROSSL_TIMEOUT": str(self.zerossl_timeout),
                **({} if source is None else source.env),
                **self.env,
            },
        )

    def stack_options(self, fleet: Fleet) -> StackOptions:
        return StackOptions(
            replicas=self.replicas,
            controller=self.controller_options(),
            kube_mode=self.kube_mode,
            zerossl_mode="subprocess",
            authorization=True,
            namespaces=("default", *fleet.namespaces),
            emulator=EmulatorSettings(
                issuance_delay=self.issuance_delay, rate_limit=self.rate_limit
            ),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "replicas": self.replicas,
            "namespaces": self.namespaces,
            "issuers": f"1 ZeroSSLClusterIssuer + {self.namespaces} ZeroSSLIssuers, one account",
            "workers_per_queue": self.workers,
            "zerossl_limiter": (
                "off"
                if self.zerossl_qps is None
                else f"{self.zerossl_qps:g}/s burst {self.zerossl_burst}"
            ),
            "emulator_rate_limit": "none" if self.rate_limit is None else f"{self.rate_limit:g}/s",
            "issuance_delay": self.issuance_delay,
            "poll_interval_s": self.poll_interval,
            "kube_client_qps": self.kube_qps,
            "lease_s": [self.lease_duration, self.renew_deadline, self.retry_period],
            "zerossl_timeout_s": self.zerossl_timeout,
            "log_level": self.log_level,
            "api_server": self.kube_mode,
            "extra_env": dict(self.env),
            "controller_code": (
                "this checkout"
                if self.controller_source is None
                else f"commit {self.controller_source.commit}"
            ),
        }

    def with_(self, **changes: Any) -> SystemSettings:
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class Observations:
    """Everything measured between :meth:`LoadRun.begin` and :meth:`LoadRun.observe`; times
    are the harness's monotonic clock. The controller's own counters are None when it does
    not expose them (a controller of another commit)."""

    began: float
    created: Mapping[str, float]
    finished: Mapping[str, Finished]
    usage: Mapping[str, Usage]
    kube: KubeCounts
    zerossl: ZeroSSLLog
    controller_zerossl: Mapping[str, float] | None
    controller_kube: Mapping[str, float] | None
    reconciles: Mapping[str, float] | None
    draft_searches: Mapping[str, float] | None
    depth: Sequence[DepthSample]
    watcher_relists: int

    def issued_at(self) -> dict[str, float]:
        return {k: f.at for k, f in self.finished.items() if f.reason == "Issued"}

    def latencies(self) -> list[float]:
        """Seconds from each issued request's create to the harness seeing it Issued."""
        issued = self.issued_at()
        return [issued[k] - self.created[k] for k in issued if k in self.created]


class LoadRun:
    def __init__(self, settings: SystemSettings, run_id: str) -> None:
        self.settings = settings
        self.run_id = run_id
        self.fleet = Fleet.of(settings.namespaces)
        self._exit = contextlib.AsyncExitStack()
        self._stack: Stack | None = None
        self._watcher: RequestWatcher | None = None
        self._submitter: Submitter | None = None
        self.sampler = ProcessSampler()
        self._metrics: ReplicaMetrics | None = None
        self._began: float | None = None

    @property
    def stack(self) -> Stack:
        return _running(self._stack)

    @property
    def metrics(self) -> ReplicaMetrics:
        return _running(self._metrics)

    @property
    def watcher(self) -> RequestWatcher:
        return _running(self._watcher)

    async def __aenter__(self) -> Self:
        async with contextlib.AsyncExitStack() as exit_stack:
            stack = await exit_stack.enter_async_context(
                Stack(self.settings.stack_options(self.fleet))
            )
            self._stack = stack
            await self.fleet.install(stack)
            self._watcher = RequestWatcher(stack.access, selector(self.run_id))
            self._submitter = Submitter(stack, self.run_id)
            self._metrics = ReplicaMetrics(stack)
            tasks = await exit_stack.enter_async_context(asyncio.TaskGroup())
            observers = [
                tasks.create_task(self._watcher.run(), name="watcher"),
                tasks.create_task(self._metrics.run(), name="metrics"),
                tasks.create_task(self.sampler.run(), name="sampler"),
            ]
            for task in observers:
                exit_stack.callback(task.cancel)
            self._exit = exit_stack.pop_all()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._exit.aclose()

    def plan(self, count: int, *, first: int = 0) -> list[PlannedRequest]:
        return plan(self.fleet, count, self.run_id, first=first)

    async def begin(self) -> None:
        """Start measuring: the emulators' counts are reset, the metrics baselined, process
        CPU counted from now."""
        await reset_kube_counts(self.stack)
        await reset_zerossl_log(self.stack)
        await self.metrics.mark_baseline()
        self.sampler.restart()
        self._began = time.monotonic()

    async def submit(
        self,
        requests: Sequence[PlannedRequest],
        *,
        concurrency: int = 32,
        rate: float | None = None,
        stop: asyncio.Event | None = None,
    ) -> None:
        await _running(self._submitter).submit(
            requests, concurrency=concurrency, rate=rate, stop=stop
        )

    def submitted(self, requests: Sequence[PlannedRequest]) -> list[PlannedRequest]:
        """Those of ``requests`` whose create was sent."""
        created = _running(self._submitter).created
        return [r for r in requests if r.key in created]

    async def wait_finished(self, requests: Sequence[PlannedRequest], timeout: float) -> None:
        await self.watcher.wait_finished([r.key for r in requests], timeout)

    async def observe(self, *, quiet: float = QUIET_PERIOD) -> Observations:
        """Wait until the controller has written nothing but lease renewals for ``quiet``
        seconds (its Event recorder may still be draining), then collect what the run
        measured; ``quiet`` 0 collects at once."""
        if quiet > 0:
            await self._quiesce(quiet)
        self.sampler.sample()
        await self.metrics.scrape_all()
        began = _running(self._began)
        return Observations(
            began=began,
            created=dict(_running(self._submitter).created),
            finished=dict(self.watcher.finished),
            usage=self.sampler.usage(),
            kube=await kube_counts(self.stack),
            zerossl=await zerossl_log(self.stack),
            controller_zerossl=self.metrics.exposed_delta(ZEROSSL_REQUESTS, "endpoint"),
            controller_kube=self.metrics.exposed_delta(KUBE_REQUESTS, "verb"),
            reconciles=self.metrics.exposed_delta(
                "zerossl_issuer_reconcile_total", "controller", "result"
            ),
            draft_searches=self.metrics.exposed_delta(
                "zerossl_issuer_draft_searches_total", "served_by"
            ),
            depth=list(self.metrics.depth),
            watcher_relists=self.watcher.relists,
        )

    async def _quiesce(self, quiet: float) -> None:
        """Until two readings ``quiet`` seconds apart count the same writes (leases aside);
        after ``QUIESCE_TIMEOUT`` the run is measured anyway (a controller that never stops
        writing shows in the metric-agreement checks)."""
        previous = -1
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(QUIESCE_TIMEOUT):
                while True:
                    current = (await kube_counts(self.stack)).writes(exclude=("leases",))
                    if current == previous:
                        return
                    previous = current
                    await asyncio.sleep(quiet)


def _running(part: T | None) -> T:
    if part is None:
        raise RuntimeError("the load run is not running (use it inside `async with`)")
    return part
