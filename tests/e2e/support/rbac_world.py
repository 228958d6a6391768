"""What the RBAC e2e tests need around a stack: the API server's account of the controller's
requests (:class:`ApiAudit`), and a cluster where every permission of the controller has a
reason to be used (:class:`RbacWorld`: issuers for each way of validating, and the actions that
make the controller read, write and delete each kind it is allowed to).

Every action takes a ``slug`` and names its objects after it, so actions never share objects.
Actions return once their objects exist (the controller works asynchronously; callers wait for
an outcome), except :meth:`RbacWorld.flap_issuer`, which waits for each turn of the issuer.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final, Self

import yaml

from controller.issuer.solvers.dns.externaldns import ExternalDNSProvider
from controller.issuer.solvers.dns.record import CNAMERecord
from controller.issuer.solvers.http import HTTPROUTES, ORDER_ANNOTATION
from controller.kube.resource import INGRESSES
from controller.sandbox.stack import Stack, find_condition, issuer_ref, make_csr
from controller.sandbox.stack.cluster import ISSUER_API_VERSION, IssuerKind
from controller.sandbox.stack.kubeapi import JSON
from controller.sandbox.stack.waiting import poll
from controller.sandbox.zerossl.emulator import CertificateView
from tests.e2e.support import E2E_NAMESPACE
from tests.e2e.support.dns import (
    DNSENDPOINT_API_VERSION,
    CnameServer,
    register_dnsendpoint_crd,
)
from tests.e2e.support.issuance import csr_md5, events_about
from tests.manifests.rbac import Permission

HTTPROUTE_CRD: Final = (
    Path(__file__).parents[2]
    / "integration"
    / "issuer"
    / "crds"
    / "gateway.networking.k8s.io_httproutes.yaml"
)
DOMAIN: Final = "rbac.zerossl-issuer.dev"
ORDER_KIND: Final = "ZeroSSLOrder"
REQUEST_API: Final = "cert-manager.io/v1"
STALE_TARGET: Final = "stale.example.net"
WAIT: Final = 20.0


def request_label(permission: Permission) -> str:
    """How the API server labels requests on the permission's resource
    (``certificaterequests.cert-manager.io/status``)."""
    plural, _, subresource = permission.resource.partition("/")
    base = f"{plural}.{permission.api_group}" if permission.api_group else plural
    return f"{base}/{subresource}" if subresource else base


class ApiAudit:
    """The API server's request counts for one user, by verb and resource (the emulator's
    counters, or the real server's audit log)."""

    def __init__(self, stack: Stack, user: str) -> None:
        self._stack = stack
        self._user = user

    def count(self, verb: str, label: str, *, denied: bool) -> int:
        return sum(
            n
            for key, n in self._stack.request_counts().items()
            if key.user == self._user
            and key.verb == verb
            and key.resource == label
            and (key.code == 403) == denied
        )

    def denials(self, permission: Permission) -> int:
        return self.count(permission.verb, request_label(permission), denied=True)

    def all_denials(self) -> dict[tuple[str, str], int]:
        found: dict[tuple[str, str], int] = {}
        for key, n in self._stack.request_counts().items():
            if key.user == self._user and key.code == 403:
                found[key.verb, key.resource] = found.get((key.verb, key.resource), 0) + n
        return found

    def used(self) -> set[tuple[str, str]]:
        """(verb, resource label) of every request the server let through."""
        return {
            (key.verb, key.resource)
            for key in self._stack.request_counts()
            if key.user == self._user and key.code != 403
        }

    async def wait_denied(self, permission: Permission, after: int, timeout: float = WAIT) -> None:
        """Until the server refused the permission's verb more than ``after`` times."""

        async def probe() -> bool | None:
            return True if self.denials(permission) > after else None

        await poll(
            probe,
            timeout=timeout,
            describe=lambda: (
                f"the controller never asked to {permission}; denied so far: {self.all_denials()}"
            ),
        )


def names_for(slug: str, count: int) -> list[str]:
    return [f"{slug}.{DOMAIN}", *(f"alt{i}-{slug}.{DOMAIN}" for i in range(1, count))]


class RbacWorld:
    """Shared issuers for every validation route, and the actions the RBAC tests take.

    ``plain`` validates by HTTP with no routing objects, ``ingress`` and ``gateway`` route
    through an Ingress and an HTTPRoute, ``edns`` publishes DNSEndpoints (checked against a DNS
    server that knows no name, so validation never proceeds past propagation).
    """

    ISSUERS: Final = ("plain", "ingress", "gateway", "edns")

    def __init__(self, stack: Stack, nameserver: str) -> None:
        self.stack = stack
        self.kube = stack.kube
        self.cluster = stack.cluster
        self.nameserver = nameserver

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, stack: Stack) -> AsyncIterator[Self]:
        """The world on ``stack``: CRDs for HTTPRoute and DNSEndpoint, the shared issuers."""

        async def unknown(_name: str) -> str | None:
            return None

        async with CnameServer(unknown) as nameserver:
            world = cls(stack, nameserver.address)
            await world._install()
            yield world

    async def _install(self) -> None:
        await self.kube.apply(yaml.safe_load(HTTPROUTE_CRD.read_text()))
        await register_dnsendpoint_crd(self.stack)

        async def served() -> bool | None:
            with contextlib.suppress(LookupError):
                await self.kube.resource(HTTPROUTES.api_version, HTTPROUTES.kind)
                return True
            return None

        await poll(served, timeout=WAIT, describe=lambda: "HTTPRoute is not served")
        solvers: dict[str, dict[str, Any]] = {
            "plain": {"http": {"none": {}}},
            "ingress": {"http": {"ingress": {"ingressClassName": "nginx"}}},
            "gateway": {
                "http": {"gatewayHTTPRoute": {"parentRefs": [{"name": "public"}]}},
            },
            "edns": {
                "dns": {
                    "externalDNS": {},
                    "propagation": {"nameservers": [self.nameserver]},
                }
            },
        }
        for name in self.ISSUERS:
            spec = {**self.api_key("zerossl-api-key"), "solvers": [solvers[name]]}
            await self.cluster.create_issuer("ZeroSSLClusterIssuer", name, None, spec)

    async def wait_ready(self) -> None:
        for name in self.ISSUERS:
            await self.cluster.wait_for_issuer("ZeroSSLClusterIssuer", name, timeout=WAIT)

    @staticmethod
    def api_key(secret: str) -> dict[str, object]:
        return {"apiKeySecretRef": {"name": secret, "key": "api-key"}}

    # --- actions ------------------------------------------------------------------------------

    async def request(self, slug: str, issuer: str = "plain", names: int = 1) -> None:
        """An approved CertificateRequest ``slug`` for ``names`` names, of a shared issuer."""
        csr = make_csr(names_for(slug, names))
        ref = issuer_ref("ZeroSSLClusterIssuer", issuer)
        await self.cluster.create_certificate_request(E2E_NAMESPACE, slug, csr, ref)

    async def issuer(self, slug: str, kind: IssuerKind) -> None:
        """A new issuer ``slug`` reading its own new Secret (in the namespace it may read)."""
        namespace = E2E_NAMESPACE if kind == "ZeroSSLIssuer" else None
        await self.cluster.create_api_key_secret(namespace, slug)
        spec = {**self.api_key(slug), "solvers": [{"http": {"none": {}}}]}
        await self.cluster.create_issuer(kind, slug, namespace, spec)

    async def flap_issuer(self, slug: str) -> None:
        """An issuer whose Secret goes missing twice: the same Warning is recorded twice, the
        second time after the first is stored (so it can only join the Event's series)."""
        await self.cluster.create_issuer(
            "ZeroSSLIssuer",
            slug,
            E2E_NAMESPACE,
            {**self.api_key(slug), "solvers": [{"http": {"none": {}}}]},
        )
        for round_ in range(2):
            await self._issuer_ready(slug, "False")
            await self.cluster.create_api_key_secret(E2E_NAMESPACE, slug)
            await self._issuer_ready(slug, "True")
            if round_ == 0:
                await self._recorded(slug, "SecretNotFound")
                await self.kube.delete("v1", "Secret", slug, E2E_NAMESPACE)

    async def _recorded(self, slug: str, reason: str) -> None:
        async def stored() -> bool | None:
            events = await self.events("ZeroSSLIssuer", slug)
            return True if any(e.get("reason") == reason for e in events) else None

        await poll(stored, timeout=WAIT, describe=lambda: f"no {reason} Event about {slug}")

    async def _issuer_ready(self, slug: str, status: str) -> None:
        await self.cluster.wait_for_issuer(
            "ZeroSSLIssuer", slug, E2E_NAMESPACE, status=status, timeout=WAIT
        )

    async def request_over_stale_dnsendpoint(self, slug: str) -> None:
        """A request of ``edns`` whose DNSEndpoint already exists, with another target (left
        behind by an earlier order of the same name)."""
        csr = make_csr(names_for(slug, 1))
        await self.stale_dnsendpoint(slug, csr)
        ref = issuer_ref("ZeroSSLClusterIssuer", "edns")
        await self.cluster.create_certificate_request(E2E_NAMESPACE, slug, csr, ref)

    async def stale_dnsendpoint(self, slug: str, csr: bytes) -> None:
        """A DNSEndpoint where the order ``slug`` will want its record, with another target (an
        earlier order's leftover)."""
        domain = names_for(slug, 1)[0]
        record = CNAMERecord(f"_{csr_md5(csr)}.{domain}", STALE_TARGET)
        owner = {
            "apiVersion": ISSUER_API_VERSION,
            "kind": ORDER_KIND,
            "metadata": {"name": slug, "namespace": E2E_NAMESPACE, "uid": "leftover"},
        }
        provider = ExternalDNSProvider(
            _Unused(), owner, namespace=E2E_NAMESPACE, labels={}, annotations={}
        )
        body = provider.desired(record)
        del body["metadata"]["ownerReferences"]
        await self.kube.create(body)

    async def orphan_request(self, slug: str) -> None:
        """Delete the request but not its order (``kubectl delete --cascade=orphan``)."""
        ref = await self.kube.resource(REQUEST_API, "CertificateRequest")
        await self.kube.request(
            "DELETE",
            ref.path(E2E_NAMESPACE, slug),
            params={"propagationPolicy": "Orphan"},
        )

    async def delete_request(self, slug: str) -> None:
        await self.kube.delete(REQUEST_API, "CertificateRequest", slug, E2E_NAMESPACE)

    async def wipe(self) -> None:
        """Remove every object actions made (the replica stopped): orders lose their finalizer
        first, so nothing waits on a controller; the shared issuers stay."""
        kube, system = self.kube, self.stack.options.controller.namespace
        for order in await kube.list_objects(ISSUER_API_VERSION, ORDER_KIND, E2E_NAMESPACE):
            meta = order["metadata"]
            if meta.get("finalizers"):
                released = {"name": meta["name"], "namespace": E2E_NAMESPACE, "finalizers": None}
                await kube.merge_patch(
                    {"apiVersion": ISSUER_API_VERSION, "kind": ORDER_KIND, "metadata": released}
                )
        kinds = [
            (REQUEST_API, "CertificateRequest", E2E_NAMESPACE),
            (ISSUER_API_VERSION, ORDER_KIND, E2E_NAMESPACE),
            (ISSUER_API_VERSION, "ZeroSSLIssuer", E2E_NAMESPACE),
            (DNSENDPOINT_API_VERSION, "DNSEndpoint", E2E_NAMESPACE),
            (INGRESSES.api_version, INGRESSES.kind, system),
            (HTTPROUTES.api_version, HTTPROUTES.kind, system),
        ]
        for api_version, kind, namespace in kinds:
            for obj in await kube.list_objects(api_version, kind, namespace):
                await kube.delete(api_version, kind, obj["metadata"]["name"], namespace)
        for obj in await kube.list_objects(ISSUER_API_VERSION, "ZeroSSLClusterIssuer"):
            if obj["metadata"]["name"] not in self.ISSUERS:
                await kube.delete(
                    ISSUER_API_VERSION, "ZeroSSLClusterIssuer", obj["metadata"]["name"]
                )

    # --- what the controller made -------------------------------------------------------------

    async def order(self, slug: str) -> JSON | None:
        return await self.kube.get(ISSUER_API_VERSION, ORDER_KIND, slug, E2E_NAMESPACE)

    async def request_object(self, slug: str) -> JSON | None:
        return await self.kube.get(REQUEST_API, "CertificateRequest", slug, E2E_NAMESPACE)

    async def issuer_object(self, slug: str, kind: IssuerKind) -> JSON | None:
        namespace = E2E_NAMESPACE if kind == "ZeroSSLIssuer" else None
        return await self.kube.get(ISSUER_API_VERSION, kind, slug, namespace)

    async def routing_objects(self, slug: str, kind: str) -> list[JSON]:
        """The Ingresses or HTTPRoutes the HTTP solver made for the order ``slug``."""
        api_version = INGRESSES.api_version if kind == "Ingress" else HTTPROUTES.api_version
        namespace = self.stack.options.controller.namespace
        return [
            obj
            for obj in await self.kube.list_objects(api_version, kind, namespace)
            if (obj["metadata"].get("annotations") or {}).get(ORDER_ANNOTATION)
            == f"{E2E_NAMESPACE}/{slug}"
        ]

    async def dnsendpoint_targets(self, slug: str) -> list[list[str]]:
        """The CNAME targets of each DNSEndpoint for the order ``slug``."""
        return [
            [t for endpoint in obj["spec"]["endpoints"] for t in endpoint.get("targets") or ()]
            for obj in await self.dnsendpoints(slug)
        ]

    async def dnsendpoints(self, slug: str) -> list[JSON]:
        """DNSEndpoints for the order ``slug`` (named after it)."""
        return [
            obj
            for obj in await self.kube.list_objects(
                DNSENDPOINT_API_VERSION, "DNSEndpoint", E2E_NAMESPACE
            )
            if obj["metadata"]["name"].startswith(f"{slug}-")
        ]

    async def events(self, kind: str, slug: str) -> list[JSON]:
        return await events_about(self.stack, kind, slug, E2E_NAMESPACE)

    def certificates(self, slug: str) -> list[CertificateView]:
        """ZeroSSL's certificates for the request ``slug`` (by its first name)."""
        name = names_for(slug, 1)[0]
        return [c for c in self.stack.emulator.certificates() if name in c.domains]

    async def ready_reason(self, slug: str) -> str | None:
        ready = find_condition(await self.request_object(slug), "Ready")
        return None if ready is None else str(ready.get("reason"))


class _Unused:
    """A Kubernetes client for an ExternalDNSProvider only asked what it would write."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the provider was not supposed to call {name}")
