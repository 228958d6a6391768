"""End to end: the real controller process issues through the emulated ZeroSSL a certificate for
one name, for several names and for an IP address, issues again for a Certificate's renewal,
and leaves a denied request alone; an issuance costs five Kubernetes writes. One stack for the
module; each test has its own requests."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from cryptography import x509
from cryptography.x509.oid import NameOID

from controller.sandbox.stack import Stack, issuer_ref, make_csr
from tests.conftest import KubeWorld
from tests.e2e.support import E2E_NAMESPACE
from tests.e2e.support.issuance import (
    WAIT,
    calls_since,
    certificates_for,
    create_certificate,
    create_issuer,
    get_order,
    issued_chain,
    log_mark,
    module_stack,
    ready_condition,
    reported,
    request_for_certificate,
    request_ready,
    san_names,
    wait_for_event,
    wait_for_order,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

ISSUER = "issuance"
CLUSTER_ISSUER = "issuance-cluster"
REF = issuer_ref("ZeroSSLIssuer", ISSUER)
DOMAIN = "e2e.zerossl-issuer.dev"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(kube_world: KubeWorld) -> AsyncIterator[Stack]:
    async with module_stack(kube_world) as running:
        await running.cluster.create_api_key_secret(E2E_NAMESPACE)
        await create_issuer(running, ISSUER)
        await running.cluster.wait_for_issuer("ZeroSSLIssuer", ISSUER, E2E_NAMESPACE, timeout=WAIT)
        yield running


@pytest.fixture(autouse=True)
def _report(request: pytest.FixtureRequest, stack: Stack) -> Iterator[None]:
    yield from reported(request, stack)


def common_name(certificate: x509.Certificate) -> str:
    return str(certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


async def issue(stack: Stack, name: str, csr: bytes, ref: dict[str, str] = REF) -> x509.Certificate:
    """Create and approve a request, wait for Issued; check that exactly one ZeroSSL
    certificate was created for it, that it is the one the request and order name, and the
    Issued Event. Returns the leaf."""
    mark = log_mark(stack)
    await stack.cluster.create_certificate_request(E2E_NAMESPACE, name, csr, ref)
    leaf = await issued_chain(stack, E2E_NAMESPACE, name, csr)

    (certificate,) = certificates_for(stack, csr)
    assert certificate.status == "issued"
    assert calls_since(stack, mark, "create") == 1
    ready = await request_ready(stack, name)
    assert ready["message"] == f"Certificate issued by ZeroSSL (certificate {certificate.id})"
    order = await wait_for_order(stack, name, "Issued")
    assert order["status"]["certificateID"] == certificate.id
    assert order["status"]["zerosslStatus"] == "issued"
    event = await wait_for_event(stack, "CertificateRequest", name, "Issued", type_="Normal")
    assert certificate.id in event["note"]
    return leaf


async def test_single_name_is_issued(stack: Stack) -> None:
    name = f"single.{DOMAIN}"
    csr = make_csr([name])

    leaf = await issue(stack, "single", csr)

    assert common_name(leaf) == name
    assert san_names(leaf) == [name]
    (certificate,) = certificates_for(stack, csr)
    assert certificate.domains == (name,)
    assert certificate.validation_type == "HTTP_CSR_HASH"
    request = await stack.cluster.get_request(E2E_NAMESPACE, "single")
    assert "failureTime" not in request["status"]


ISSUANCE_RESOURCES = ("zerosslorders.", "certificaterequests.", "events.")
"""Where an issuance's writes go (the Lease and the issuers' checks are apart from it)."""


def issuance_writes(stack: Stack) -> dict[str, int]:
    """The controller's writes since the counts were reset, by verb and resource."""
    writes: Counter[str] = Counter()
    for key, n in stack.request_counts().items():
        if (
            key.user == stack.controller_user
            and key.verb in ("create", "update", "patch", "delete")
            and key.resource.startswith(ISSUANCE_RESOURCES)
        ):
            writes[f"{key.verb} {key.resource}"] += n
    return dict(writes)


async def test_an_issuance_costs_five_kubernetes_writes(stack: Stack) -> None:
    # docs/api.md, "Which writes crash safety needs": the order's create, its validation
    # records before they are published, its certificate (carrying the accepted validation),
    # the request's Issued status and the Issued Event. No Pending while the order works, no
    # write of the accepted validation on its own.
    stack.reset_request_counts()

    await issue(stack, "writes", make_csr([f"writes.{DOMAIN}"]))

    assert issuance_writes(stack) == {
        "create zerosslorders.zerossl.issuer.dev": 1,
        "update zerosslorders.zerossl.issuer.dev/status": 2,
        "patch certificaterequests.cert-manager.io/status": 1,
        "create events.events.k8s.io": 1,
    }
    request = await stack.cluster.get_request(E2E_NAMESPACE, "writes")
    assert [c["type"] for c in request["status"]["conditions"]] == ["Approved", "Ready"]


async def test_multi_name_is_issued_by_a_cluster_issuer(stack: Stack) -> None:
    names = [f"multi.{DOMAIN}", f"www.multi.{DOMAIN}", f"api.multi.{DOMAIN}"]
    spec = {"apiKeySecretRef": {"name": "zerossl-api-key"}, "solvers": [{"http": {"none": {}}}]}
    await stack.cluster.create_issuer("ZeroSSLClusterIssuer", CLUSTER_ISSUER, None, spec)
    await stack.cluster.wait_for_issuer("ZeroSSLClusterIssuer", CLUSTER_ISSUER, timeout=WAIT)
    csr = make_csr(names, key="rsa")

    leaf = await issue(stack, "multi", csr, issuer_ref("ZeroSSLClusterIssuer", CLUSTER_ISSUER))

    assert common_name(leaf) == names[0]
    assert sorted(san_names(leaf)) == sorted(names)
    (certificate,) = certificates_for(stack, csr)
    assert certificate.domains == tuple(names)


async def test_ip_address_is_issued(stack: Stack) -> None:
    csr = make_csr([], ["203.0.113.7"])

    leaf = await issue(stack, "ip", csr)

    assert common_name(leaf) == "203.0.113.7"
    assert san_names(leaf) == ["203.0.113.7"]
    (certificate,) = certificates_for(stack, csr)
    assert certificate.validation_type == "HTTP_CSR_HASH"


async def test_renewal_issues_a_new_certificate_for_the_new_key(stack: Stack) -> None:
    names = [f"renew.{DOMAIN}", f"www.renew.{DOMAIN}"]
    certificate = await create_certificate(stack, "renew", names, REF)
    first_csr, second_csr = make_csr(names), make_csr(names)

    first_name = await request_for_certificate(stack, certificate, 1, first_csr)
    first = await issued_chain(stack, E2E_NAMESPACE, first_name, first_csr)
    second_name = await request_for_certificate(stack, certificate, 2, second_csr)
    second = await issued_chain(stack, E2E_NAMESPACE, second_name, second_csr)

    assert second.serial_number != first.serial_number
    assert second.public_key() != first.public_key()
    assert sorted(san_names(second)) == sorted(names)
    (old,) = certificates_for(stack, first_csr)
    (new,) = certificates_for(stack, second_csr)
    assert old.id != new.id
    assert (old.status, new.status) == ("issued", "issued")
    first_order = await wait_for_order(stack, first_name, "Issued")
    second_order = await wait_for_order(stack, second_name, "Issued")
    assert first_order["status"]["certificateID"] == old.id
    assert second_order["status"]["certificateID"] == new.id
    # the first revision's result is untouched by the second
    first_request = await stack.cluster.get_request(E2E_NAMESPACE, first_name)
    assert ready_condition(first_request)["reason"] == "Issued"


async def test_denied_request_is_never_signed(stack: Stack) -> None:
    csr = make_csr([f"denied.{DOMAIN}"])
    mark = log_mark(stack)

    await stack.cluster.create_certificate_request(
        E2E_NAMESPACE, "denied", csr, REF, approved="denied"
    )
    request = await stack.cluster.wait_for_request(
        E2E_NAMESPACE, "denied", status="False", reason="Denied", timeout=WAIT
    )

    ready = ready_condition(request)
    assert ready["message"] == (
        "The request was denied by an approver (cert-manager.io: Certificate request has been "
        "denied by cert-manager.io); it will not be signed"
    )
    assert request["status"]["failureTime"]
    assert "certificate" not in request["status"]
    await wait_for_event(stack, "CertificateRequest", "denied", "Denied", type_="Warning")
    assert await get_order(stack, "denied") is None
    assert certificates_for(stack, csr) == []
    assert calls_since(stack, mark, "create") == 0
