"""Chaos soak: issuances while both emulators misbehave and the leader is killed periodically.

While requests are fed at a steady rate, the API server fails a share of every verb (500, 503,
504, or 429 with Retry-After), drops every watch now and then and compacts its history (so
re-watches get 410); the ZeroSSL emulator answers a share of calls with HTML 5xx, hangs past
the controller's timeout, answers error 111, loses the answer of creates and verifies that took
effect, and throttles (429) above a rate below the controller's limiter. The leader is killed
every ``kill_every`` seconds and restarted by the supervisor, which also restarts anything else
that exits (a finding). Once every request was submitted the faults stop, and within
``settle_timeout`` everything must be Issued: none Failed, no ZeroSSL certificate issued twice
or left orphaned, and the controller's metrics agreeing with the emulators' logs.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Final, NoReturn

from controller.sandbox.stack import Stack
from loadtests.audit import audit_requests, audit_zerossl, zerossl_ledger
from loadtests.harness import LoadRun, SystemSettings
from loadtests.results import RunResult
from loadtests.summary import agreement_checks, issuance_series, issuance_summary
from loadtests.supervisor import Supervisor
from loadtests.workload import new_run_id

KUBE_VERB_STATUS: Final = {
    "get": (503, 1),
    "list": (500, None),
    "watch": (500, None),
    "create": (500, None),
    "update": (504, None),
    "patch": (429, 1),
    "delete": (503, 1),
}
"""The error each verb fails with (status, Retry-After seconds)."""
_TICK: Final = 0.25


@dataclass(frozen=True, slots=True)
class ChaosFaults:
    kube_error_rate: float = 0.03
    watch_drop_every: float = 10.0
    compact_every: float = 25.0
    zerossl_error_rate: float = 0.03
    zerossl_timeout_rate: float = 0.01
    zerossl_internal_error_rate: float = 0.02
    zerossl_lost_answer_rate: float = 0.05
    zerossl_hang_seconds: float = 3.0
    controller_zerossl_timeout: float = 2.0
    zerossl_rate_limit: float = 30.0
    controller_zerossl_qps: float = 45.0
    kill_every: float = 15.0

    def kube_commands(self) -> list[dict[str, Any]]:
        return [
            {
                "action": "set_error",
                "verb": verb,
                "resource": "*",
                "rate": self.kube_error_rate,
                "status": status,
                "retryAfter": retry_after,
            }
            for verb, (status, retry_after) in KUBE_VERB_STATUS.items()
        ]

    def zerossl_faults(self) -> dict[str, Any]:
        everywhere = {
            "server_error_rate": self.zerossl_error_rate,
            "timeout_rate": self.zerossl_timeout_rate,
            "internal_error_rate": self.zerossl_internal_error_rate,
        }
        lost = {"server_error_rate": self.zerossl_lost_answer_rate, "after_effect": True}
        return {
            "endpoints": {"*": everywhere, "create": lost, "verify": lost},
            "hang_seconds": self.zerossl_hang_seconds,
        }

    def system(self, base: SystemSettings) -> SystemSettings:
        return base.with_(
            rate_limit=self.zerossl_rate_limit,
            zerossl_qps=self.controller_zerossl_qps,
            zerossl_timeout=self.controller_zerossl_timeout,
        )


async def inject(stack: Stack, faults: ChaosFaults) -> None:
    for command in faults.kube_commands():
        await stack.kube.request("POST", "/_sandbox/faults", body=command)
    await stack.zerossl_admin.call("PUT", "faults", faults.zerossl_faults())


async def heal(stack: Stack) -> None:
    await stack.kube.request("POST", "/_sandbox/faults", body={"action": "clear"})
    await stack.zerossl_admin.call("DELETE", "faults")


@dataclass(slots=True)
class Mayhem:
    """The periodic part of the chaos: watch drops, compactions and leader kills."""

    stack: Stack
    faults: ChaosFaults
    supervisor: Supervisor
    drops: int = 0
    compactions: int = 0
    kill_times: list[float] = field(default_factory=list)

    async def run(self, origin: float) -> NoReturn:
        """Act at multiples of each period after ``origin``; kill times are recorded on the
        harness's monotonic clock."""
        f = self.faults
        next_drop, next_compact, next_kill = f.watch_drop_every, f.compact_every, f.kill_every
        while True:
            await asyncio.sleep(_TICK)
            elapsed = time.monotonic() - origin
            if elapsed >= next_drop:
                await self.stack.kube.request(
                    "POST", "/_sandbox/faults", body={"action": "drop_watches"}
                )
                self.drops += 1
                next_drop += f.watch_drop_every
            if elapsed >= next_compact:
                await self.stack.kube.request(
                    "POST", "/_sandbox/faults", body={"action": "compact"}
                )
                self.compactions += 1
                next_compact += f.compact_every
            if elapsed >= next_kill:
                if await self.supervisor.kill_leader() is not None:
                    self.kill_times.append(time.monotonic())
                next_kill += f.kill_every


@dataclass(frozen=True, slots=True)
class Chaos:
    name: str
    title: str
    system: SystemSettings
    requests: int = 1000
    feed_rate: float = 10.0
    faults: ChaosFaults = field(default_factory=ChaosFaults)
    settle_timeout: float = 300.0

    async def run(self) -> RunResult:
        started = time.monotonic()
        system = self.faults.system(self.system)
        run_id = new_run_id("ch")
        async with LoadRun(system, run_id) as load:
            stack = load.stack
            planned = load.plan(self.requests)
            supervisor = Supervisor(stack, load.sampler, load.metrics)
            mayhem = Mayhem(stack, self.faults, supervisor)
            await load.begin()
            async with asyncio.TaskGroup() as tasks:
                watching = tasks.create_task(supervisor.run())
                await inject(stack, self.faults)
                chaos_began = time.monotonic()
                chaos = tasks.create_task(mayhem.run(chaos_began))
                await load.submit(planned, concurrency=8, rate=self.feed_rate)
                chaos_seconds = time.monotonic() - chaos_began
                chaos.cancel()
                await heal(stack)
                await load.wait_finished(planned, self.settle_timeout)
                watching.cancel()
            seen = await load.observe()
            checks = await audit_requests(stack, planned, run_id)
            checks += audit_zerossl(await zerossl_ledger(stack, planned), planned)
            stops = len(supervisor.exits)
            checks += agreement_checks(
                seen, stops=stops, workers=system.workers, replicas=system.replicas
            )
        checks.append(supervisor.unplanned_check("no replica exited unless killed"))
        summary = issuance_summary(seen)
        summary.update(
            chaos_seconds=round(chaos_seconds, 1),
            leader_kills=supervisor.kills,
            watch_drops=mayhem.drops,
            compactions=mayhem.compactions,
            kube_error_answers=sum(
                n for code, n in seen.kube.by_code().items() if code not in ("200", "201")
            ),
            zerossl_error_answers=sum(
                1 for call in seen.zerossl.entries if call.status >= 500 or call.error_code == 111
            ),
        )
        result = RunResult(
            scenario="chaos",
            name=self.name,
            title=self.title,
            settings={
                **system.to_json(),
                "requests": self.requests,
                "feed_rate_per_s": self.feed_rate,
                "faults": asdict(self.faults),
            },
            summary=summary,
            checks=checks,
            series={
                **issuance_series(seen),
                "kills_at_s": [
                    round(t - min(seen.created.values(), default=seen.began), 2)
                    for t in mayhem.kill_times
                ],
            },
        )
        result.wall_seconds = round(time.monotonic() - started, 1)
        return result
