"""Quota utilisation: the emulated ZeroSSL enforces R requests/s per account (429 above it) and
the controller's limiter is set to R. With more work queued than R allows, a run of ``window``
seconds (after ``warmup``) should use at least 95 % of R and receive no 429 at all.

Utilisation counts the calls the emulator answered (past its rate limit) in the window, from
its own request log, divided by ``R * window``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

from loadtests.audit import Check
from loadtests.harness import LoadRun, SystemSettings
from loadtests.results import RunResult, Target
from loadtests.stats import count_in_window, per_second
from loadtests.workload import new_run_id

CALLS_PER_ISSUANCE = 3.0
"""The floor (create, verify, download): enough requests are queued for the window at it."""
OVERSUPPLY = 1.5


@dataclass(frozen=True, slots=True)
class QuotaUtilisation:
    name: str
    title: str
    rate: float
    window: float
    system: SystemSettings
    warmup: float = 5.0
    min_utilisation: float = 0.95

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.window <= 0 or self.warmup < 0:
            raise ValueError("rate and window must be > 0, warmup >= 0")

    async def run(self) -> RunResult:
        started = time.monotonic()
        system = self.system.with_(
            zerossl_qps=self.rate,
            zerossl_burst=min(self.system.zerossl_burst, math.ceil(self.rate)),
            rate_limit=self.rate,
        )
        count = math.ceil(OVERSUPPLY * self.rate * (self.warmup + self.window) / CALLS_PER_ISSUANCE)
        async with LoadRun(system, new_run_id("qu")) as load:
            planned = load.plan(count)
            await load.begin()
            began = time.time()
            async with asyncio.TaskGroup() as tasks:
                feeding = tasks.create_task(load.submit(planned, concurrency=16))
                await asyncio.sleep(self.warmup + self.window)
                feeding.cancel()
            seen = await load.observe(quiet=0.0)
            client_throttled = load.metrics.counter_delta(
                "zerossl_issuer_zerossl_throttled_total", "account"
            )
        window_start, window_end = began + self.warmup, began + self.warmup + self.window
        answered = seen.zerossl.answered_times()
        used = count_in_window(answered, window_start, window_end)
        utilisation = used / (self.rate * self.window)
        throttled = seen.zerossl.throttled()
        failed = {k: f for k, f in seen.finished.items() if f.reason != "Issued"}
        result = RunResult(
            scenario="quota",
            name=self.name,
            title=self.title,
            settings={
                **system.to_json(),
                "rate_per_s": self.rate,
                "window_s": self.window,
                "warmup_s": self.warmup,
                "requests_queued": count,
            },
            summary={
                "calls_in_window": used,
                "utilisation": round(utilisation, 4),
                "zerossl_429s": throttled,
                "issued": len(seen.issued_at()),
                "zerossl_calls_by_endpoint": dict(seen.zerossl.counts),
                "controller_throttle_pauses": round(sum(client_throttled.values())),
            },
            targets=[
                Target("share of R used", round(utilisation, 4), self.min_utilisation, "", False),
                Target("429 answers", throttled, 0, "", True),
            ],
            series={"calls_per_second": per_second(answered, window_start, self.window)},
        )
        result.checks = [_no_failures(failed)]
        result.wall_seconds = round(time.monotonic() - started, 1)
        return result


def _no_failures(failed: Mapping[str, object]) -> Check:
    return Check("no request failed", not failed, f"{len(failed)} Failed or Denied")
