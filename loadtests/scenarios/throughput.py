"""Throughput and latency: N approved CertificateRequests across several issuers and
namespaces, submitted as fast as the harness can (bounded concurrency), until all are issued.
A replica that exits (one that lost its Lease exits by design) is restarted as the kubelet
would, and the exit fails the run's "no replica exited" check: the run ends either way.

Reports issued per second, p50/p95/p99 issuance latency (create sent to Issued seen by the
harness), controller CPU seconds and peak RSS, Kubernetes requests per issuance by verb (the
controller's ServiceAccount, as the API server counted them) and ZeroSSL calls per issuance by
endpoint (the emulator's log). Targets are optional per run: total time, ZeroSSL calls per
issued certificate, Kubernetes writes per issuance.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from loadtests.audit import audit_requests, audit_zerossl, zerossl_ledger
from loadtests.harness import LoadRun, SystemSettings
from loadtests.results import RunResult, Target
from loadtests.summary import (
    MAX_KUBE_WRITES,
    agreement_checks,
    issuance_series,
    issuance_summary,
    kube_writes_target,
)
from loadtests.supervisor import Supervisor
from loadtests.workload import new_run_id


@dataclass(frozen=True, slots=True)
class Throughput:
    name: str
    title: str
    requests: int
    system: SystemSettings
    concurrency: int = 64
    timeout: float = 900.0
    max_seconds: float | None = None
    max_zerossl_calls: float | None = None
    max_kube_writes: float | None = MAX_KUBE_WRITES

    async def run(self) -> RunResult:
        started = time.monotonic()
        run_id = new_run_id("tp")
        async with LoadRun(self.system, run_id) as load:
            planned = load.plan(self.requests)
            supervisor = Supervisor(load.stack, load.sampler, load.metrics)
            await load.begin()
            async with asyncio.TaskGroup() as tasks:
                kubelet = tasks.create_task(supervisor.run())
                await load.submit(planned, concurrency=self.concurrency)
                submitted = time.monotonic()
                await load.wait_finished(planned, self.timeout)
                kubelet.cancel()
            seen = await load.observe()
            checks = await audit_requests(load.stack, planned, run_id)
            checks += audit_zerossl(await zerossl_ledger(load.stack, planned), planned)
            checks += agreement_checks(
                seen,
                stops=len(supervisor.exits),
                workers=self.system.workers,
                replicas=self.system.replicas,
            )
        checks.append(supervisor.unplanned_check("no replica exited"))
        summary = issuance_summary(seen)
        summary["seconds_to_submit_all"] = round(submitted - seen.began, 3)
        result = RunResult(
            scenario="throughput",
            name=self.name,
            title=self.title,
            settings={
                **self.system.to_json(),
                "requests": self.requests,
                "submit_concurrency": self.concurrency,
            },
            summary=summary,
            checks=checks,
            series=issuance_series(seen),
        )
        if self.max_seconds is not None:
            result.targets.append(
                Target(
                    f"{self.requests:,} issued in",
                    summary["seconds_to_issue_all"],
                    self.max_seconds,
                    "s",
                )
            )
        if self.max_zerossl_calls is not None:
            result.targets.append(
                Target(
                    "ZeroSSL calls per issued certificate",
                    summary["zerossl_calls_per_issuance"],
                    self.max_zerossl_calls,
                    "calls",
                )
            )
        if self.max_kube_writes is not None:
            result.targets.append(kube_writes_target(summary, self.max_kube_writes))
        result.wall_seconds = round(time.monotonic() - started, 1)
        return result
