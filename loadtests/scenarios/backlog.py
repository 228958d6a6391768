"""A backlog: N approved CertificateRequests already waiting when the controller starts (a
restart, an upgrade, an outage of the controller), then one replica starts and works them off.

The issuers are made Ready by a first run of the controller, which is then stopped; the
requests are created and approved while none runs. Times are from the replica's start (the
harness starting its process): the first request Ready (finished work goes first: a
certificate is not held up behind every order still to start), p50/p99 and all Ready; the
first Ready is also given from the replica's "leading" log record (its caches synced, its
reconcilers starting: the process start and the sync are not the queues' doing), and the
first-Ready target is judged on that. Also
reported: 409 answers to ZeroSSLOrder creates (an order is created once per request: any 409
means creation raced the cache), and the rest of the throughput run's numbers. The result is a
throughput run (same table), its latencies counted from the controller's start.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Final

from controller.sandbox.stack import Replica
from loadtests.audit import audit_requests, audit_zerossl, zerossl_ledger
from loadtests.harness import LoadRun, SystemSettings
from loadtests.results import RunResult, Target
from loadtests.stats import distribution
from loadtests.summary import (
    agreement_checks,
    issuance_series,
    issuance_summary,
    kube_writes_target,
)
from loadtests.workload import new_run_id

LEADING: Final = "leading: starting reconcilers"


def leading_since(replica: Replica, since: float) -> float | None:
    """The wall-clock time of the replica's first "leading" log record at or after ``since``
    (its log holds the records of its earlier processes too); None when it logged none (a
    controller of another commit may word it otherwise: the times from leading are n/a)."""
    for record in replica.json_logs():
        stamp = record.get("time")
        if record.get("message") != LEADING or not isinstance(stamp, str):
            continue
        at = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        if at >= since:
            return at
    return None


@dataclass(frozen=True, slots=True)
class Backlog:
    name: str
    title: str
    requests: int
    system: SystemSettings
    concurrency: int = 64
    timeout: float = 900.0
    max_first_ready: float | None = 2.0

    async def run(self) -> RunResult:
        started = time.monotonic()
        run_id = new_run_id("bl")
        async with LoadRun(self.system, run_id) as load:
            planned = load.plan(self.requests)
            replicas = list(load.stack.replicas)
            for replica in replicas:  # the issuers are Ready: the backlog builds with none running
                await replica.stop()
            await load.submit(planned, concurrency=self.concurrency)
            await load.begin()
            start, start_wall = time.monotonic(), time.time()
            for replica in replicas:
                await replica.start(ready=False)
            await load.wait_finished(planned, self.timeout)
            seen = await load.observe()
            leading = leading_since(replicas[0], start_wall)
            checks = await audit_requests(load.stack, planned, run_id)
            checks += audit_zerossl(await zerossl_ledger(load.stack, planned), planned)
            checks += agreement_checks(
                seen, stops=0, workers=self.system.workers, replicas=self.system.replicas
            )
        ready = sorted(at - start for at in seen.issued_at().values())
        leading_s = None if leading is None else leading - start_wall
        after_leading = None if leading_s is None or not ready else round(ready[0] - leading_s, 3)
        summary = issuance_summary(seen)
        summary.update(
            first_ready_s=round(ready[0], 3) if ready else None,
            leading_s=None if leading_s is None else round(leading_s, 3),
            first_ready_after_leading_s=after_leading,
            seconds_to_issue_all=round(ready[-1], 3) if ready else None,
            issued_per_second=round(len(ready) / ready[-1], 2) if ready else 0.0,
            latency_s={k: round(v, 3) for k, v in distribution(ready).to_json().items()},
        )
        result = RunResult(
            scenario="throughput",
            name=self.name,
            title=self.title,
            settings={
                **self.system.to_json(),
                "requests": self.requests,
                "waiting_before_start": self.requests,
                "latency_from": "controller start",
            },
            summary=summary,
            checks=checks,
            series=issuance_series(seen),
        )
        result.targets.append(
            Target("409s on ZeroSSLOrder create", summary["order_create_409s"], 0, "answers")
        )
        result.targets.append(kube_writes_target(summary))
        if self.max_first_ready is not None and after_leading is not None:
            result.targets.append(
                Target(
                    f"first Ready with {self.requests:,} waiting (from leading)",
                    after_leading,
                    self.max_first_ready,
                    "s",
                )
            )
        result.wall_seconds = round(time.monotonic() - started, 1)
        return result
