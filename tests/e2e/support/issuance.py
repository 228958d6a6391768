"""What the issuance e2e modules check, shared: one stack per module, issued chains, Events,
ZeroSSLOrders, the emulated ZeroSSL's certificates and request log.

Each module opens its own stack (:func:`module_stack`) and reuses it across its tests, which
keep apart by using their own issuers, Secrets and request names; :func:`reported` lists that
stack in a failed test's report, like the function-scoped fixtures do.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from controller.sandbox.stack import Stack, find_condition
from controller.sandbox.stack.cluster import ISSUER_API_VERSION, REQUEST_API_VERSION
from controller.sandbox.stack.waiting import poll
from controller.sandbox.zerossl.emulator import CertificateView
from tests.conftest import KubeWorld, kube_mode_of
from tests.e2e.conftest import STACKS
from tests.e2e.support.stacks import E2E_NAMESPACE, e2e_options, log_tails

JSON = dict[str, Any]
EVENTS_API_VERSION = "events.k8s.io/v1"
HTTP_SOLVER: JSON = {"http": {"none": {}}}
WAIT = 30.0
"""Bound of every wait on the controller (its timings are short: see e2e_options)."""


@contextlib.asynccontextmanager
async def module_stack(world: KubeWorld, **options: Any) -> AsyncIterator[Stack]:
    """A stack for a whole module on ``world`` (see :func:`tests.e2e.support.e2e_options`); a
    failure of the module fixture's own set-up carries the replicas' log tails."""
    async with Stack(e2e_options(kube_mode=kube_mode_of(world), **options)) as running:
        try:
            yield running
        except Exception as exc:
            exc.add_note(log_tails(running))
            raise


def reported(request: pytest.FixtureRequest, stack: Stack) -> Iterator[None]:
    """For an autouse fixture: show ``stack``'s replicas in this test's report if it fails."""
    stacks = request.node.stash.setdefault(STACKS, [])
    stacks.append(stack)
    yield
    stacks.remove(stack)


# --- CSRs and chains ----------------------------------------------------------------------------


def csr_md5(csr_pem: bytes) -> str:
    """The MD5 ZeroSSL names a CSR by (uppercase hex of its DER)."""
    der = x509.load_pem_x509_csr(csr_pem).public_bytes(Encoding.DER)
    return hashlib.md5(der, usedforsecurity=False).hexdigest().upper()


def _public_key(item: x509.Certificate | x509.CertificateSigningRequest) -> bytes:
    return item.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def san_names(certificate: x509.Certificate) -> list[str]:
    sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [
        *sans.get_values_for_type(x509.DNSName),
        *(str(ip) for ip in sans.get_values_for_type(x509.IPAddress)),
    ]


def check_chain(chain: Sequence[x509.Certificate], csr_pem: bytes, root_pem: str) -> None:
    """Leaf first and carrying the CSR's public key; each certificate signed by the next up to
    one the root signed."""
    assert chain, "the chain is empty"
    leaf = chain[0]
    assert _public_key(leaf) == _public_key(x509.load_pem_x509_csr(csr_pem)), (
        "the leaf does not carry the CSR's public key"
    )
    root = x509.load_pem_x509_certificate(root_pem.encode())
    current = leaf
    for parent in chain[1:]:
        if current.issuer == root.subject:
            break
        current.verify_directly_issued_by(parent)
        current = parent
    current.verify_directly_issued_by(root)


async def issued_chain(stack: Stack, namespace: str, name: str, csr_pem: bytes) -> x509.Certificate:
    """Waits until the request is Issued and checks its chain; returns the leaf."""
    await stack.cluster.wait_for_request(namespace, name, reason="Issued", timeout=WAIT)
    chain = await stack.cluster.issued_chain(namespace, name)
    check_chain(chain, csr_pem, stack.emulator.root_pem)
    return chain[0]


# --- cluster objects ----------------------------------------------------------------------------


async def create_issuer(
    stack: Stack,
    name: str,
    *,
    secret: str = "zerossl-api-key",
    solvers: Sequence[Mapping[str, Any]] = (HTTP_SOLVER,),
    namespace: str = E2E_NAMESPACE,
    **spec: Any,
) -> JSON:
    """A ZeroSSLIssuer in ``namespace`` reading ``secret`` (key ``api-key``)."""
    body = {"apiKeySecretRef": {"name": secret, "key": "api-key"}, "solvers": list(solvers)}
    return await stack.cluster.create_issuer("ZeroSSLIssuer", name, namespace, {**body, **spec})


async def get_issuer(stack: Stack, name: str, namespace: str = E2E_NAMESPACE) -> JSON:
    issuer = await stack.kube.get(ISSUER_API_VERSION, "ZeroSSLIssuer", name, namespace)
    assert issuer is not None, f"ZeroSSLIssuer {namespace}/{name} does not exist"
    return issuer


async def get_order(stack: Stack, name: str, namespace: str = E2E_NAMESPACE) -> JSON | None:
    return await stack.kube.get(ISSUER_API_VERSION, "ZeroSSLOrder", name, namespace)


async def wait_for_order(
    stack: Stack, name: str, reason: str, namespace: str = E2E_NAMESPACE
) -> JSON:
    """The ZeroSSLOrder once its Ready condition has ``reason``."""
    last: JSON | None = None

    async def probe() -> JSON | None:
        nonlocal last
        last = await get_order(stack, name, namespace)
        ready = find_condition(last, "Ready")
        return last if ready is not None and ready.get("reason") == reason else None

    return await poll(
        probe,
        timeout=WAIT,
        describe=lambda: f"ZeroSSLOrder {namespace}/{name} Ready reason {reason}? {last}",
    )


async def wait_gone(
    stack: Stack, api_version: str, kind: str, name: str, namespace: str | None
) -> None:
    async def probe() -> bool | None:
        return True if await stack.kube.get(api_version, kind, name, namespace) is None else None

    await poll(probe, timeout=WAIT, describe=lambda: f"{kind} {namespace}/{name} still exists")


def ready_condition(obj: JSON | None) -> JSON:
    ready = find_condition(obj, "Ready")
    assert ready is not None, f"no Ready condition: {obj}"
    return ready


async def request_ready(stack: Stack, name: str, namespace: str = E2E_NAMESPACE) -> JSON:
    return ready_condition(await stack.cluster.get_request(namespace, name))


# --- Events -------------------------------------------------------------------------------------


async def events_about(stack: Stack, kind: str, name: str, namespace: str) -> list[JSON]:
    """events.k8s.io/v1 Events in ``namespace`` regarding the object ``kind`` ``name``."""
    events = await stack.kube.list_objects(EVENTS_API_VERSION, "Event", namespace)
    return [
        e
        for e in events
        if (e.get("regarding") or {}).get("kind") == kind
        and (e.get("regarding") or {}).get("name") == name
    ]


async def wait_for_event(
    stack: Stack,
    kind: str,
    name: str,
    reason: str,
    *,
    type_: str,
    namespace: str = E2E_NAMESPACE,
) -> JSON:
    """The Event of ``reason`` about ``kind`` ``name`` (Events are written asynchronously)."""
    seen: list[JSON] = []

    async def probe() -> JSON | None:
        nonlocal seen
        seen = await events_about(stack, kind, name, namespace)
        return next((e for e in seen if e.get("reason") == reason), None)

    event = await poll(
        probe,
        timeout=WAIT,
        describe=lambda: (
            f"no {reason} Event about {kind} {namespace}/{name}; seen: "
            + "; ".join(f"{e.get('type')}/{e.get('reason')}: {e.get('note')}" for e in seen)
        ),
    )
    assert event.get("type") == type_, event
    return event


# --- the emulated ZeroSSL -----------------------------------------------------------------------


def certificates_for(stack: Stack, csr_pem: bytes) -> list[CertificateView]:
    """The emulator's certificates created from this CSR."""
    md5 = csr_md5(csr_pem)
    return [c for c in stack.emulator.certificates() if c.csr_md5 == md5]


async def wait_for_certificate(
    stack: Stack, csr_pem: bytes, *, status: str, held: bool | None = None
) -> CertificateView:
    """The one certificate of this CSR once it has ``status`` (and is ``held``, if given)."""
    found: list[CertificateView] = []

    def match(c: CertificateView) -> bool:
        return c.status == status and (held is None or c.held == held)

    async def probe() -> CertificateView | None:
        nonlocal found
        found = certificates_for(stack, csr_pem)
        assert len(found) <= 1, f"more than one ZeroSSL certificate for one CSR: {found}"
        return found[0] if found and match(found[0]) else None

    return await poll(
        probe,
        timeout=WAIT,
        describe=lambda: f"no {status} ZeroSSL certificate for the CSR; found {found}",
    )


def log_mark(stack: Stack) -> int:
    """The sequence number of the newest request-log entry (count calls after it)."""
    entries = stack.emulator.request_log.entries()
    return entries[-1].seq if entries else 0


def calls_since(stack: Stack, mark: int, endpoint: str, account: str | None = None) -> int:
    return sum(
        1
        for r in stack.emulator.request_log.entries(mark)
        if r.endpoint == endpoint and (account is None or r.account == account)
    )


# --- requests as cert-manager makes them for a Certificate --------------------------------------


async def create_certificate(
    stack: Stack, name: str, dns_names: Sequence[str], issuer_ref: Mapping[str, str]
) -> JSON:
    """A cert-manager Certificate object (nothing acts on it: the test plays cert-manager)."""
    return await stack.kube.create(
        {
            "apiVersion": REQUEST_API_VERSION,
            "kind": "Certificate",
            "metadata": {"name": name, "namespace": E2E_NAMESPACE},
            "spec": {
                "secretName": f"{name}-tls",
                "commonName": dns_names[0],
                "dnsNames": list(dns_names),
                "issuerRef": dict(issuer_ref),
            },
        }
    )


async def request_for_certificate(
    stack: Stack, certificate: JSON, revision: int, csr_pem: bytes
) -> str:
    """Revision ``revision``'s CertificateRequest of ``certificate``, owned by it and annotated
    as cert-manager's issuing controller does, then approved; returns its name."""
    meta = certificate["metadata"]
    name = f"{meta['name']}-{revision}"
    await stack.kube.create(
        {
            "apiVersion": REQUEST_API_VERSION,
            "kind": "CertificateRequest",
            "metadata": {
                "name": name,
                "namespace": meta["namespace"],
                "annotations": {
                    "cert-manager.io/certificate-name": meta["name"],
                    "cert-manager.io/certificate-revision": str(revision),
                    "cert-manager.io/private-key-secret-name": f"{meta['name']}-key",
                },
                "ownerReferences": [
                    {
                        "apiVersion": REQUEST_API_VERSION,
                        "kind": "Certificate",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {
                "request": base64.b64encode(csr_pem).decode(),
                "issuerRef": dict(certificate["spec"]["issuerRef"]),
                "usages": ["digital signature", "key encipherment"],
            },
        }
    )
    await stack.cluster.approve(meta["namespace"], name)
    return name
