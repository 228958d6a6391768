"""Informer and cache at scale: how long a replica takes to sync its caches, and how much
memory it holds, with N CertificateRequests already in the cluster.

For each size a fresh API server (in this process: seeding 50,000 objects over HTTP would take
longer than the measurement) is seeded with N requests of this controller's issuers, already
approved and Issued with a certificate chain: the steady state of a large cluster (the cache
keeps them without CSR and chain; other issuers' requests with only their issuerRef). Then
one replica starts and the harness measures:

- sync: from the replica's "listening" log record (its servers and informers start together)
  to "leading: starting reconcilers" (logged once every cache has synced), both stamped by
  the replica itself, since the in-process API server keeps this loop busy meanwhile; also
  process start to that record;
- RSS right after sync and the process's peak RSS, and how many times the requests informer
  listed again (0 unless a watch could not resume: a relist holds a second copy meanwhile);
- the new leader's initial pass: every cached request reconciled once, and the Kubernetes
  writes it made to CertificateRequests (expected: none, they are all finished).

The replica configures itself as in a pod (:mod:`loadtests.incluster`: service-account token
and CA, no kubeconfig) where the machine allows it (root), else from a kubeconfig; the run's
settings say which. Issue 15's targets: RSS <= 50 MiB idle (no requests; HTTP solver, tracing
off), <= 80 MiB with 10,000 requests cached, <= 200 MiB with 50,000; start to ready <= 0.5 s
with nothing cached.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp
import psutil
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from controller.sandbox.kube import KubeAPIServer
from controller.sandbox.kube.server import SYSTEM
from controller.sandbox.stack import Replica, ReplicaStartError, Stack, make_csr
from controller.sandbox.stack.waiting import poll
from loadtests import incluster
from loadtests.accounting import kube_counts, reset_kube_counts
from loadtests.audit import Check
from loadtests.harness import SystemSettings
from loadtests.results import RunResult, Target
from loadtests.sampling import MIB, peak_rss
from loadtests.workload import RUN_LABEL, Fleet

LOG_WAIT: Final = 5.0
"""Seconds to wait for a log line the replica wrote (its log is written in batches)."""
CR_API: Final = "cert-manager.io/v1"
PASS_POLL: Final = 0.1
REQUESTS_RESOURCE: Final = "certificaterequests.cert-manager.io"
RSS_TARGETS: Final = {0: 50.0, 10_000: 80.0, 50_000: 200.0}
"""Requests cached -> the most RSS after sync (MiB) issue 15 asks for."""
START_TO_READY_TARGET: Final = 0.5
"""Seconds from process start to leading with nothing cached."""


def _chain_b64() -> str:
    """A two-certificate chain (leaf, CA), base64 of the PEM, as ``status.certificate``."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)

    def certificate(subject: str, issuer: str) -> x509.Certificate:
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), False)
            .sign(key, hashes.SHA256())
        )

    pem = b"".join(
        c.public_bytes(serialization.Encoding.PEM)
        for c in (
            certificate("seeded.load.zerossl-issuer.dev", "Load CA"),
            certificate("Load CA", "Load CA"),
        )
    )
    return base64.b64encode(pem).decode()


def seed(server: KubeAPIServer, fleet: Fleet, count: int) -> None:
    """``count`` approved, Issued requests of the fleet's issuers, written as the system."""
    rt = server.resource_type(CR_API, "CertificateRequest")
    request = base64.b64encode(make_csr(["seeded.load.zerossl-issuer.dev"])).decode()
    chain = _chain_b64()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    conditions = [
        {
            "type": "Approved",
            "status": "True",
            "reason": "cert-manager.io",
            "message": "ok",
            "lastTransitionTime": stamp,
        },
        {
            "type": "Ready",
            "status": "True",
            "reason": "Issued",
            "message": "issued",
            "lastTransitionTime": stamp,
        },
    ]
    for index in range(count):
        namespace, ref = fleet.assignment(index)
        created = server.create_object(
            {
                "apiVersion": CR_API,
                "kind": "CertificateRequest",
                "metadata": {
                    "name": f"seeded-{index:05d}",
                    "namespace": namespace,
                    "labels": {RUN_LABEL: "seeded"},
                },
                "spec": {"request": request, "issuerRef": ref, "usages": ["digital signature"]},
            }
        )
        created["status"] = {"conditions": conditions, "certificate": chain}
        server.registry.update(
            rt, namespace, created["metadata"]["name"], created, opts=SYSTEM, subresource="status"
        )


@dataclass(frozen=True, slots=True)
class InformerScale:
    name: str
    title: str
    sizes: tuple[int, ...]
    system: SystemSettings
    timeout: float = 300.0
    in_cluster: bool = True
    """Run the replica as in a pod when the machine allows it (see :mod:`loadtests.incluster`)."""

    @property
    def pod_like(self) -> bool:
        return self.in_cluster and incluster.supported()

    async def run(self) -> RunResult:
        started = time.monotonic()
        rows = [await self._measure(size) for size in self.sizes]
        result = RunResult(
            scenario="informer",
            name=self.name,
            title=self.title,
            settings={
                **self.system.to_json(),
                "replicas": 1,
                "api_server": "in-process",
                "kube_config": "in-cluster (service account)" if self.pod_like else "kubeconfig",
            },
            summary={"sizes": rows},
            targets=_targets(rows),
            checks=[
                Check(
                    f"cache holds all {row['requests']:,} requests",
                    row["cached"] == row["requests"],
                    f"informer_cached_objects = {row['cached']}",
                )
                for row in rows
            ]
            + [
                Check(
                    f"no writes to finished requests ({row['requests']:,})",
                    row["request_writes"] == 0,
                    f"{row['request_writes']} CertificateRequest writes in the initial pass",
                )
                for row in rows
            ],
        )
        result.wall_seconds = round(time.monotonic() - started, 1)
        return result

    async def _measure(self, size: int) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="informer-") as scratch:
            return await self._measure_in(size, Path(scratch) / "serviceaccount")

    async def _measure_in(self, size: int, service_account: Path) -> dict[str, Any]:
        system = self.system.with_(replicas=0, kube_mode="in-process")
        fleet = Fleet.of(system.namespaces)
        options = system.stack_options(fleet)
        if self.pod_like:
            controller = incluster.in_cluster(options.controller, service_account)
            options = dataclasses.replace(options, controller=controller)
        async with Stack(options) as stack:
            await fleet.install(stack, wait=False)
            seed(stack.kube_server, fleet, size)
            await reset_kube_counts(stack)
            if self.pod_like:
                incluster.write_service_account(
                    service_account, stack.access, stack.controller_user
                )
            replica = await stack.add_replica(ready=False)
            await replica.wait_ready(self.timeout)
            assert replica.pid is not None
            process = psutil.Process(replica.pid)
            rss_after_sync = process.memory_info().rss / MIB
            reconciled, cached, relists = await self._initial_pass(replica, size)
            passed = time.time()
            writes = (await kube_counts(stack)).writes_by_resource()
            request_writes = sum(
                n for k, n in writes.items() if k.split()[1].startswith("certificaterequests")
            )
            listening, leading = await _log_times(
                replica, ("listening", "leading: starting reconcilers")
            )
            return {
                "requests": size,
                "start_to_ready_s": round(leading - process.create_time(), 3),
                "sync_s": round(leading - listening, 3),
                "rss_after_sync_mib": round(rss_after_sync, 1),
                "peak_rss_mib": round((peak_rss(replica.pid) or 0) / MIB, 1),
                "initial_pass_s": round(passed - leading, 3),
                "reconciled": reconciled,
                "cached": cached,
                "request_writes": request_writes,
                "request_relists": relists,
            }

    async def _initial_pass(self, replica: Replica, size: int) -> tuple[int, int, int]:
        """(reconciles, cached requests, relists of requests) once the leader has reconciled
        every request once and its request queue is empty."""
        last: tuple[int, int, float] = (0, 0, -1.0)

        async def probe() -> tuple[int, int, int] | None:
            nonlocal last
            if not replica.running:
                raise ReplicaStartError(replica.process.describe_exit("in its initial pass"))
            try:
                scrape = await replica.scrape_metrics()
            except (aiohttp.ClientError, TimeoutError):
                return None  # the metrics server may answer a moment after the probes
            reconciled = scrape.value(
                "zerossl_issuer_reconcile_total", controller="certificaterequests"
            )
            depth = [
                s.value
                for s in scrape.samples("workqueue_depth")
                if s.labels.get("name") == "certificaterequests"
            ]
            cached = scrape.value(
                "zerossl_issuer_informer_cached_objects", resource=REQUESTS_RESOURCE
            )
            relists = scrape.value(
                "zerossl_issuer_informer_relists_total", resource=REQUESTS_RESOURCE
            )
            last = (int(reconciled or 0), int(cached or 0), depth[0] if depth else -1.0)
            done = last[0] >= size and last[2] == 0.0
            return (last[0], last[1], int(relists or 0)) if done else None

        return await poll(
            probe,
            timeout=self.timeout,
            interval=PASS_POLL,
            describe=lambda: f"initial pass of {size} requests: (reconciled, cached, depth) {last}",
        )


def _targets(rows: list[dict[str, Any]]) -> list[Target]:
    targets = [
        Target(
            f"controller RSS after sync, {row['requests']:,} Issued requests cached",
            row["rss_after_sync_mib"],
            RSS_TARGETS[row["requests"]],
            "MiB",
        )
        for row in rows
        if row["requests"] in RSS_TARGETS
    ]
    targets += [
        Target(
            "start to ready, nothing cached", row["start_to_ready_s"], START_TO_READY_TARGET, "s"
        )
        for row in rows
        if row["requests"] == 0
    ]
    return targets


async def _log_times(replica: Replica, messages: tuple[str, ...]) -> list[float]:
    """The wall-clock times of the replica's first JSON log record with each message (the
    replica's own clock: the in-process API server may keep this loop busy meanwhile). The
    controller writes its log in batches: the lines are waited for, at most
    :data:`LOG_WAIT` seconds."""
    deadline = time.monotonic() + LOG_WAIT
    while True:
        records = replica.json_logs()
        stamps = [
            next((r.get("time") for r in records if r.get("message") == message), None)
            for message in messages
        ]
        missing = [
            m for m, stamp in zip(messages, stamps, strict=True) if not isinstance(stamp, str)
        ]
        if not missing:
            return [
                dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
                for stamp in stamps
            ]
        if time.monotonic() >= deadline:
            raise LookupError(f"{replica.name} never logged {missing[0]!r}")
        await asyncio.sleep(0.05)
