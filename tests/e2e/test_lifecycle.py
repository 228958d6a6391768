"""End to end: what happens to an issuance in flight, against the real controller process and
the emulated ZeroSSL. ZeroSSL cancels or revokes the certificate out of band (the request fails
with a message saying so, nothing is retried), and the CertificateRequest is deleted while its
certificate is a draft (the draft is cancelled, the validation Ingress removed, the order gone).

The emulator's faults are global, so each test sets them for itself and resets them after."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from controller.sandbox.stack import Stack, issuer_ref, make_csr
from controller.sandbox.stack.cluster import ISSUER_API_VERSION, REQUEST_API_VERSION
from controller.sandbox.stack.waiting import poll
from controller.sandbox.zerossl.faults import EndpointFaults, Faults
from tests.conftest import KubeWorld
from tests.e2e.support import E2E_NAMESPACE
from tests.e2e.support.issuance import (
    JSON,
    WAIT,
    calls_since,
    certificates_for,
    create_issuer,
    get_order,
    log_mark,
    module_stack,
    ready_condition,
    reported,
    wait_for_certificate,
    wait_for_event,
    wait_for_order,
    wait_gone,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

ISSUER = "lifecycle"
INGRESS_ISSUER = "lifecycle-ingress"
REF = issuer_ref("ZeroSSLIssuer", ISSUER)
DOMAIN = "lifecycle.zerossl-issuer.dev"
ALWAYS_FAILS = EndpointFaults(server_error_rate=1.0)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(kube_world: KubeWorld) -> AsyncIterator[Stack]:
    async with module_stack(kube_world) as running:
        await running.cluster.create_api_key_secret(E2E_NAMESPACE)
        await create_issuer(running, ISSUER)
        ingress = {"http": {"ingress": {"ingressClassName": "nginx"}}}
        await create_issuer(running, INGRESS_ISSUER, solvers=[ingress])
        for name in (ISSUER, INGRESS_ISSUER):
            await running.cluster.wait_for_issuer("ZeroSSLIssuer", name, E2E_NAMESPACE)
        yield running


@pytest.fixture(autouse=True)
def _report(request: pytest.FixtureRequest, stack: Stack) -> Iterator[None]:
    yield from reported(request, stack)


@pytest.fixture
def faults(stack: Stack) -> Iterator[None]:
    """The test may set ``stack.emulator.faults``; they are reset after it."""
    yield
    stack.emulator.faults = Faults()


async def wait_for_failed(stack: Stack, name: str) -> str:
    """The Failed request's Ready message, after checking failureTime and the Event."""
    request = await stack.cluster.wait_for_request(
        E2E_NAMESPACE, name, status="False", reason="Failed", timeout=WAIT
    )
    assert request["status"]["failureTime"]
    assert "certificate" not in request["status"]
    message = str(ready_condition(request)["message"])
    event = await wait_for_event(stack, "CertificateRequest", name, "OrderFailed", type_="Warning")
    assert event["note"] == message
    return message


@pytest.mark.usefixtures("faults")
async def test_certificate_cancelled_at_zerossl_fails_the_request(stack: Stack) -> None:
    csr = make_csr([f"cancelled.{DOMAIN}"])
    stack.emulator.faults = Faults(stuck_issuance=True)
    await stack.cluster.create_certificate_request(E2E_NAMESPACE, "cancelled", csr, REF)
    held = await wait_for_certificate(stack, csr, status="pending_validation", held=True)

    stack.emulator.cancel(held.id)
    message = await wait_for_failed(stack, "cancelled")

    order = await wait_for_order(stack, "cancelled", "Cancelled")
    assert order["status"]["zerosslStatus"] == "cancelled"
    assert message == (
        f"ZeroSSLOrder cancelled failed: ZeroSSL certificate {held.id} is cancelled (changed "
        "outside this controller)"
    )
    await wait_for_event(stack, "ZeroSSLOrder", "cancelled", "Cancelled", type_="Warning")
    assert [c.status for c in certificates_for(stack, csr)] == ["cancelled"]


@pytest.mark.usefixtures("faults")
async def test_certificate_revoked_at_zerossl_before_download_fails_the_request(
    stack: Stack,
) -> None:
    csr = make_csr([f"revoked.{DOMAIN}"])
    stack.emulator.faults = Faults(
        stuck_issuance=True,
        endpoints={"download_return": ALWAYS_FAILS, "download_zip": ALWAYS_FAILS},
    )
    await stack.cluster.create_certificate_request(E2E_NAMESPACE, "revoked", csr, REF)
    held = await wait_for_certificate(stack, csr, status="pending_validation", held=True)
    stack.emulator.release(held.id)
    await wait_for_certificate(stack, csr, status="issued")

    stack.emulator.revoke(held.id, "keyCompromise")
    stack.emulator.faults = Faults()  # downloads answer again: the certificate is revoked
    message = await wait_for_failed(stack, "revoked")

    order = await wait_for_order(stack, "revoked", "Cancelled")
    assert order["status"]["zerosslStatus"] == "revoked"
    assert message == (
        f"ZeroSSLOrder revoked failed: ZeroSSL certificate {held.id} is revoked (changed "
        "outside this controller)"
    )
    assert [c.status for c in certificates_for(stack, csr)] == ["revoked"]


async def solver_ingresses(stack: Stack, order: JSON) -> list[JSON]:
    """The Ingresses routing validation traffic for ``order``."""
    namespace = stack.options.controller.namespace
    ingresses = await stack.kube.list_objects(
        "networking.k8s.io/v1",
        "Ingress",
        namespace,
        label_selector=f"zerossl.issuer.dev/order-uid={order['metadata']['uid']}",
    )
    return ingresses


@pytest.mark.usefixtures("faults")
async def test_request_deleted_mid_issuance_cancels_the_draft_and_removes_routing(
    stack: Stack,
) -> None:
    names = [f"deleted.{DOMAIN}", f"www.deleted.{DOMAIN}"]
    csr = make_csr(names)
    stack.emulator.faults = Faults(endpoints={"verify": ALWAYS_FAILS})
    ref = issuer_ref("ZeroSSLIssuer", INGRESS_ISSUER)
    await stack.cluster.create_certificate_request(E2E_NAMESPACE, "deleted", csr, ref)
    draft = await wait_for_certificate(stack, csr, status="draft")
    order = await get_order(stack, "deleted")
    assert order is not None

    async def routed() -> JSON | None:
        """The order's Ingress once it routes every name, as the order's status says."""
        current = await get_order(stack, "deleted")
        validations = ((current or {}).get("status") or {}).get("validations") or []
        if sorted(v["domain"] for v in validations if v.get("presented")) != sorted(names):
            return None
        found = await solver_ingresses(stack, order)
        hosts = [sorted(r["host"] for r in i["spec"]["rules"]) for i in found]
        return found[0] if hosts == [sorted(names)] else None

    await poll(routed, timeout=WAIT, describe=lambda: "no Ingress routing every name")
    mark = log_mark(stack)

    await stack.kube.delete(REQUEST_API_VERSION, "CertificateRequest", "deleted", E2E_NAMESPACE)
    await wait_gone(stack, ISSUER_API_VERSION, "ZeroSSLOrder", "deleted", E2E_NAMESPACE)

    assert stack.emulator.certificate(draft.id).status == "cancelled"
    assert calls_since(stack, mark, "cancel") == 1
    assert calls_since(stack, mark, "create") == 0
    assert await solver_ingresses(stack, order) == []
    assert [c.status for c in certificates_for(stack, csr)] == ["cancelled"]
