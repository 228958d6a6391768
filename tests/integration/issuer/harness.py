"""The issuer in-process against the sandbox: a :class:`Replica` runs the production wiring
(:class:`~controller.issuer.controllers.wiring.IssuerControllers`: caches, queues, watches,
reconcilers, worker pools, the batch poller) and the HTTP solver as ``controller/app.py`` does,
leading from the start, with short timings; :class:`Sandbox` holds the emulated kube-apiserver
and ZeroSSL and acts on the cluster as a user and cert-manager would."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp

from controller.clock import SystemClock
from controller.config import Settings
from controller.issuer.accounts import ZeroSSLAccounts
from controller.issuer.api import ZEROSSL_ORDERS
from controller.issuer.controllers.wiring import IssuerControllers, Policies
from controller.issuer.decide_issuer import IssuerPolicy
from controller.issuer.order_steps import OrderPolicy
from controller.kube.client import KubeClient
from controller.sandbox.kube import KubeAPIServer
from controller.sandbox.stack.cluster import Cluster, IssuerKind, issuer_ref
from controller.sandbox.stack.waiting import poll
from controller.sandbox.zerossl import ZeroSSLEmulator
from controller.server import Server

NAMESPACE = "zerossl-issuer-system"  # the controller's, and the cluster resource namespace
API_KEY = "integration-api-key"
ISSUER = "zerossl"
ORDER_API = ZEROSSL_ORDERS.api_version
ORDER_KIND = ZEROSSL_ORDERS.kind
POLICY = OrderPolicy(
    verify_backoff=0.3,
    verify_backoff_cap=0.6,
    retry_backoff=0.2,
    retry_backoff_cap=0.5,
    propagation_timeout=10.0,
    propagation_interval=0.1,
    issuer_wait=1.0,
    await_recheck=30.0,
)
T = TypeVar("T")
Obj = dict[str, Any]


def settings_for(zerossl: ZeroSSLEmulator, **changes: Any) -> Settings:
    base = Settings(
        workers=4,
        zerossl_qps=100.0,
        zerossl_burst=100,
        zerossl_api_url=zerossl.url,
        zerossl_timeout=5.0,
        kube_timeout=5.0,
        leader_elect=False,
        namespace=NAMESPACE,
        cluster_resource_namespace=NAMESPACE,
        metrics_addr="127.0.0.1:0",
        probe_addr="127.0.0.1:0",
        solver_addr="127.0.0.1:0",
        poll_interval=0.3,
    )
    return dataclasses.replace(base, **changes)


class Replica:
    """One controller process, leading from the start."""

    def __init__(self, kube: KubeClient, settings: Settings, policy: OrderPolicy = POLICY) -> None:
        self.settings = settings
        self.controllers = IssuerControllers(
            kube,
            settings,
            SystemClock(),
            policies=Policies(policy, IssuerPolicy()),
            rng=random.Random(7),
        )
        self.caches = self.controllers.caches
        self.solver_port = 0

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Replica]:
        """Runs everything until the block ends (a crash: nothing is drained)."""
        server = Server(
            self.settings, health={}, readiness={}, solver_lookup=self.caches.validation_file
        )
        async with (
            aiohttp.ClientSession() as session,
            server,
            asyncio.TaskGroup() as tasks,
        ):
            self.solver_port = server.port("solver")
            accounts = ZeroSSLAccounts(self.settings, session, self.controllers.secrets)
            running = [tasks.create_task(i.run()) for i in self.caches.informers]
            await asyncio.gather(*(i.wait_synced() for i in self.caches.informers))
            running.append(tasks.create_task(self.controllers.lead(accounts)))
            try:
                yield self
            finally:
                for task in running:
                    task.cancel()


@dataclass
class Sandbox:
    """The emulated cluster and ZeroSSL, and what users and cert-manager do to them."""

    api: KubeAPIServer
    kube: KubeClient
    zerossl: ZeroSSLEmulator
    cluster: Cluster

    def replica(self, policy: OrderPolicy = POLICY, **settings: Any) -> Replica:
        return Replica(self.kube, settings_for(self.zerossl, **settings), policy)

    @contextlib.asynccontextmanager
    async def running(
        self, policy: OrderPolicy = POLICY, **settings: Any
    ) -> AsyncIterator[Replica]:
        """A replica whose solver receives the emulated ZeroSSL's validation traffic."""
        async with self.replica(policy, **settings).running() as replica:
            self.zerossl.resolve_default("127.0.0.1", replica.solver_port)
            yield replica

    async def issuer(self, *solvers: Obj, kind: IssuerKind = "ZeroSSLClusterIssuer") -> None:
        """The API-key Secret and a cluster issuer with these solvers."""
        await self.cluster.create_api_key_secret()
        await self.cluster.create_issuer(
            kind,
            ISSUER,
            None,
            {"apiKeySecretRef": {"name": "zerossl-api-key"}, "solvers": list(solvers)},
        )

    async def request(self, namespace: str, name: str, csr_pem: bytes) -> None:
        """An approved CertificateRequest for the cluster issuer (its namespace made first)."""
        if self.api.get_object("v1", "Namespace", namespace) is None:
            await self.cluster.create_namespace(namespace)
        await self.cluster.create_certificate_request(
            namespace, name, csr_pem, issuer_ref("ZeroSSLClusterIssuer", ISSUER)
        )

    def issuer_object(self) -> Obj | None:
        return self.api.get_object(ORDER_API, "ZeroSSLClusterIssuer", ISSUER)

    def order(self, namespace: str, name: str) -> Obj | None:
        return self.api.get_object(ORDER_API, ORDER_KIND, name, namespace)

    async def until(
        self, probe: Callable[[], T | None], what: Callable[[], str], timeout: float = 20.0
    ) -> T:
        async def check() -> T | None:
            return probe()

        return await poll(check, timeout=timeout, describe=what, interval=0.05)

    async def order_where(
        self,
        namespace: str,
        name: str,
        test: Callable[[Obj], bool],
        what: str,
        timeout: float = 20.0,
    ) -> Obj:
        """The order once ``test`` holds for it (``what`` describes the wait)."""

        def probe() -> Obj | None:
            order = self.order(namespace, name)
            return order if order is not None and test(order) else None

        def describe() -> str:
            return f"order {namespace}/{name}: {what}? now {self.order(namespace, name)}"

        return await self.until(probe, describe, timeout)

    async def accepted(self, namespace: str, name: str, timeout: float = 20.0) -> Obj:
        """The order once ZeroSSL accepted its validation (its certificate is
        ``pending_validation``). Over HTTP or DNS the order itself may say so only later: the
        accepted state is written with the certificate, or after ``OrderPolicy.defer_max``."""

        def probe() -> Obj | None:
            order = self.order(namespace, name)
            cert_id = ((order or {}).get("status") or {}).get("certificateID")
            accepted = cert_id and self.zerossl.certificate(cert_id).status == "pending_validation"
            return order if accepted else None

        def what() -> str:
            return f"order {namespace}/{name} accepted by ZeroSSL? {self.order(namespace, name)}"

        return await self.until(probe, what, timeout)

    async def order_reason(
        self, namespace: str, name: str, reason: str, timeout: float = 20.0
    ) -> Obj:
        """The order once its Ready reason is ``reason``."""

        def probe() -> Obj | None:
            order = self.order(namespace, name)
            return order if ready_reason(order) == reason else None

        def what() -> str:
            order = self.order(namespace, name)
            status = (order or {}).get("status") or {}
            return f"order {namespace}/{name} {reason}? now {ready(order)}; status {status}"

        return await self.until(probe, what, timeout)

    async def cleaned_up(self, namespace: str, name: str, timeout: float = 10.0) -> Obj:
        """The order once nothing it presented is still published."""

        def probe() -> Obj | None:
            order = self.order(namespace, name)
            records = ((order or {}).get("status") or {}).get("validations") or []
            return order if order and not any(r.get("presented") for r in records) else None

        return await self.until(probe, lambda: f"{namespace}/{name} cleaned up?", timeout)


def ready(obj: Obj | None) -> Obj | None:
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == "Ready"), None)


def ready_reason(obj: Obj | None) -> str | None:
    condition = ready(obj)
    return str(condition.get("reason")) if condition else None


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)
