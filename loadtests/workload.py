"""What a run asks for, and doing it the way users and cert-manager would.

- :class:`Fleet`: the namespaces of a run, each with an API-key Secret and a ZeroSSLIssuer,
  plus one ZeroSSLClusterIssuer; requests alternate between the cluster issuer and their
  namespace's issuer, so both kinds and several namespaces carry the load.
- :func:`plan`: the requests, CSRs generated up front (a fresh P-256 key and unique names per
  request: ZeroSSL tells drafts apart by their CSR).
- :class:`Submitter`: creates each request and approves it through the ``/status``
  subresource, as cert-manager's approver does, with bounded concurrency and an optional
  steady rate; it stamps when each create was sent (the start of its issuance latency).

Every request carries the label ``RUN_LABEL=<run id>``, which the watcher and the audit select.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from controller.sandbox.stack import KubeAPI, KubeError, Stack, issuer_ref, make_csr
from controller.sandbox.stack.cluster import APPROVED_MESSAGE, APPROVER
from controller.sandbox.stack.csr import DEFAULT_USAGES

RUN_LABEL: Final = "loadtests.zerossl-issuer.dev/run"
DOMAIN: Final = "load.zerossl-issuer.dev"
ISSUER: Final = "load"
SECRET: Final = "zerossl-api-key"
SECRET_KEY: Final = "api-key"
ISSUER_READY_TIMEOUT: Final = 60.0
REQUESTS_PATH: Final = "/apis/cert-manager.io/v1/namespaces/{namespace}/certificaterequests"


def issuer_spec(solvers: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """An issuer reading the API key from ``SECRET``; HTTP validation with routing in place
    (the emulator reaches the solver through the stack's Service proxy)."""
    return {
        "apiKeySecretRef": {"name": SECRET, "key": SECRET_KEY},
        "solvers": list(solvers or [{"http": {"none": {}}}]),
    }


@dataclass(frozen=True, slots=True)
class Fleet:
    namespaces: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.namespaces:
            raise ValueError("a fleet needs at least one namespace")

    @classmethod
    def of(cls, count: int) -> Fleet:
        return cls(tuple(f"load-{i}" for i in range(count)))

    def assignment(self, index: int) -> tuple[str, dict[str, str]]:
        """(namespace, issuerRef) of request ``index``: namespaces round-robin, and every
        other request in a namespace goes to the cluster issuer."""
        namespace = self.namespaces[index % len(self.namespaces)]
        if (index // len(self.namespaces)) % 2:
            return namespace, issuer_ref("ZeroSSLClusterIssuer", ISSUER)
        return namespace, issuer_ref("ZeroSSLIssuer", ISSUER)

    async def install(
        self, stack: Stack, spec: Mapping[str, Any] | None = None, *, wait: bool = True
    ) -> None:
        """API-key Secrets, one ZeroSSLIssuer per namespace and the ZeroSSLClusterIssuer (its
        Secret is the stack's, in the cluster resource namespace); with ``wait``, until all
        are Ready. The namespaces must exist (``StackOptions.namespaces``)."""
        cluster = stack.cluster
        spec = dict(spec or issuer_spec())
        for namespace in self.namespaces:
            await cluster.create_api_key_secret(namespace, SECRET, key=SECRET_KEY)
            await cluster.create_issuer("ZeroSSLIssuer", ISSUER, namespace, spec)
        await cluster.create_issuer("ZeroSSLClusterIssuer", ISSUER, None, spec)
        if not wait:
            return
        async with asyncio.TaskGroup() as waits:
            waits.create_task(
                cluster.wait_for_issuer(
                    "ZeroSSLClusterIssuer", ISSUER, timeout=ISSUER_READY_TIMEOUT
                )
            )
            for namespace in self.namespaces:
                waits.create_task(
                    cluster.wait_for_issuer(
                        "ZeroSSLIssuer", ISSUER, namespace, timeout=ISSUER_READY_TIMEOUT
                    )
                )


@dataclass(frozen=True, slots=True)
class PlannedRequest:
    namespace: str
    name: str
    issuer_ref: Mapping[str, str]
    domains: tuple[str, ...]
    csr_pem: bytes = field(repr=False)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def manifest(self, run_id: str) -> dict[str, Any]:
        return {
            "apiVersion": "cert-manager.io/v1",
            "kind": "CertificateRequest",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": {RUN_LABEL: run_id},
            },
            "spec": {
                "request": base64.b64encode(self.csr_pem).decode(),
                "issuerRef": dict(self.issuer_ref),
                "usages": list(DEFAULT_USAGES),
            },
        }


def plan(fleet: Fleet, count: int, run_id: str, *, first: int = 0) -> list[PlannedRequest]:
    """Requests ``first .. first+count-1`` of run ``run_id``: one DNS name each (two for every
    fourth, so multi-domain orders are part of the load), unique across runs."""
    planned = []
    for index in range(first, first + count):
        namespace, ref = fleet.assignment(index)
        name = f"{run_id}-{index:05d}"
        host = f"{name}.{namespace}.{DOMAIN}"
        domains = (host, f"www.{host}") if index % 4 == 3 else (host,)
        planned.append(PlannedRequest(namespace, name, ref, domains, make_csr(list(domains))))
    return planned


def selector(run_id: str) -> str:
    return f"{RUN_LABEL}={run_id}"


def _approved_condition() -> dict[str, str]:
    return {
        "type": "Approved",
        "status": "True",
        "reason": APPROVER,
        "message": APPROVED_MESSAGE,
        "lastTransitionTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


class Submitter:
    """Creates and approves requests; :attr:`created` maps each key to the monotonic time its
    create was sent."""

    def __init__(
        self, stack: Stack, run_id: str, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._stack = stack
        self._run_id = run_id
        self._clock = clock
        self.created: dict[str, float] = {}

    async def submit(
        self,
        requests: Sequence[PlannedRequest],
        *,
        concurrency: int = 32,
        rate: float | None = None,
        stop: asyncio.Event | None = None,
    ) -> None:
        """Create and approve every request: at most ``concurrency`` in flight, and with
        ``rate``, request ``i`` starts no earlier than ``i / rate`` seconds after the first.
        Once ``stop`` is set no further request starts (those under way complete), so every
        request in :attr:`created` ends up approved."""
        if concurrency < 1 or (rate is not None and rate <= 0):
            raise ValueError("concurrency must be >= 1 and rate > 0")
        pending: Iterator[tuple[int, PlannedRequest]] = iter(enumerate(requests))
        start = self._clock()

        async def worker() -> None:
            for index, request in pending:
                if rate is not None:
                    await asyncio.sleep(max(0.0, start + index / rate - self._clock()))
                if stop is not None and stop.is_set():
                    return
                await self._create_approved(request)

        async with asyncio.TaskGroup() as workers:
            for _ in range(min(concurrency, len(requests))):
                workers.create_task(worker())

    async def _create_approved(self, request: PlannedRequest) -> None:
        kube: KubeAPI = self._stack.kube
        path = REQUESTS_PATH.format(namespace=request.namespace)
        self.created[request.key] = self._clock()
        try:
            created = await kube.request("POST", path, body=request.manifest(self._run_id))
        except KubeError as exc:
            if exc.status != 409:  # 409: an earlier attempt's answer was lost; it exists
                raise
            await self._stack.cluster.approve(request.namespace, request.name)
            return
        created.setdefault("status", {})["conditions"] = [_approved_condition()]
        try:
            await kube.request("PUT", f"{path}/{request.name}/status", body=created)
        except KubeError as exc:
            if exc.status != 409:
                raise
            await self._stack.cluster.approve(request.namespace, request.name)


def new_run_id(prefix: str) -> str:
    """A short id unique to this run (names must stay short: ZeroSSL caps names at 64)."""
    return f"{prefix}-{secrets.token_hex(3)}"
