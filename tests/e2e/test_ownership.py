"""End to end: an order owns only the ZeroSSL certificate it created or can prove is its own.

Requests with byte-identical CSRs (cert-manager makes them on renewal with ``rotationPolicy:
Never``) are each issued a certificate of their own, one after the other over HTTP validation
(ZeroSSL names the validation file after the CSR); deleting one never touches the other's
certificate; a request picked up after a restart never adopts another request's certificate;
and a namespace deleted with a request in flight leaves no certificate pending at ZeroSSL.

The emulator's faults are global, so each test sets them for itself and resets them after."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from controller.sandbox.stack import Stack, issuer_ref, make_csr
from controller.sandbox.stack.cluster import ISSUER_API_VERSION, REQUEST_API_VERSION
from controller.sandbox.stack.waiting import poll
from controller.sandbox.zerossl.faults import EndpointFaults, Faults
from tests.e2e.support import E2E_NAMESPACE
from tests.e2e.support.issuance import (
    JSON,
    WAIT,
    certificates_for,
    create_issuer,
    get_order,
    issued_chain,
    module_stack,
    reported,
    wait_gone,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

ISSUER = "ownership"
REF = issuer_ref("ZeroSSLIssuer", ISSUER)
DOMAIN = "ownership.zerossl-issuer.dev"
ALWAYS_FAILS = EndpointFaults(server_error_rate=1.0)
CANCELS = "zerossl_issuer_certificate_cancels_total"
BOTH_ISSUED = 60.0
"""Two requests with one CSR are both issued within a minute."""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack() -> AsyncIterator[Stack]:
    async with module_stack() as running:
        await running.cluster.create_api_key_secret(E2E_NAMESPACE)
        await create_issuer(running, ISSUER)
        await running.cluster.wait_for_issuer("ZeroSSLIssuer", ISSUER, E2E_NAMESPACE)
        yield running


@pytest.fixture(autouse=True)
def _each_test(request: pytest.FixtureRequest, stack: Stack) -> Iterator[None]:
    """A failed test's report shows the stack; the emulator's faults are reset after each."""
    try:
        yield from reported(request, stack)
    finally:
        stack.emulator.faults = Faults()


async def order_status(stack: Stack, name: str, namespace: str = E2E_NAMESPACE) -> JSON:
    order = await get_order(stack, name, namespace)
    return dict((order or {}).get("status") or {})


async def wait_held(stack: Stack, csr: bytes, count: int) -> list[str]:
    """The ids of the CSR's certificates once ``count`` are held in pending_validation."""

    async def probe() -> list[str] | None:
        held = [c.id for c in certificates_for(stack, csr) if c.held]
        return held if len(held) == count else None

    return await poll(
        probe,
        timeout=WAIT,
        describe=lambda: f"not {count} held certificates: {certificates_for(stack, csr)}",
    )


async def wait_create_failed(stack: Stack, name: str) -> None:
    """Until the order has tried a create and is backing off (the create failed)."""

    async def probe() -> bool | None:
        status = await order_status(stack, name)
        return True if status.get("retry") and not status.get("certificateID") else None

    await poll(probe, timeout=WAIT, describe=lambda: f"order {name} never failed a create")


async def same_csr_in_flight(stack: Stack, first: str, second: str, host: str) -> tuple[bytes, str]:
    """Request ``first`` held in pending_validation at ZeroSSL, then ``second`` with the same
    CSR, whose first create fails (so its order is not fresh any more and searches for a lost
    draft); the CSR and the id of ``first``'s certificate."""
    csr = make_csr([f"{host}.{DOMAIN}"])
    stack.emulator.faults = Faults(stuck_issuance=True)
    await stack.cluster.create_certificate_request(E2E_NAMESPACE, first, csr, REF)
    (held,) = await wait_held(stack, csr, 1)
    stack.emulator.faults = Faults(stuck_issuance=True, endpoints={"create": ALWAYS_FAILS})
    await stack.cluster.create_certificate_request(E2E_NAMESPACE, second, csr, REF)
    await wait_create_failed(stack, second)
    return csr, held


async def test_identical_csrs_in_flight_are_both_issued_with_their_own_certificates(
    stack: Stack,
) -> None:
    csr = make_csr([f"twins.{DOMAIN}"])
    for name in ("twin-a", "twin-b"):
        await stack.cluster.create_certificate_request(E2E_NAMESPACE, name, csr, REF)
    for name in ("twin-a", "twin-b"):
        await stack.cluster.wait_for_request(
            E2E_NAMESPACE, name, reason="Issued", timeout=BOTH_ISSUED
        )
    ids = [(await order_status(stack, name))["certificateID"] for name in ("twin-a", "twin-b")]
    assert ids[0] != ids[1]
    leaves = [await issued_chain(stack, E2E_NAMESPACE, n, csr) for n in ("twin-a", "twin-b")]
    assert leaves[0].serial_number != leaves[1].serial_number
    assert sorted(c.status for c in certificates_for(stack, csr)) == ["issued", "issued"]


async def test_deleting_one_of_two_identical_requests_leaves_the_other_untouched(
    stack: Stack,
) -> None:
    csr, kept = await same_csr_in_flight(stack, "keep", "drop", "keep")

    await stack.kube.delete(REQUEST_API_VERSION, "CertificateRequest", "drop", E2E_NAMESPACE)
    await wait_gone(stack, ISSUER_API_VERSION, "ZeroSSLOrder", "drop", E2E_NAMESPACE)

    assert stack.emulator.certificate(kept).status == "pending_validation"
    stack.emulator.faults = Faults()
    stack.emulator.release(kept)
    await issued_chain(stack, E2E_NAMESPACE, "keep", csr)
    assert (await order_status(stack, "keep"))["certificateID"] == kept


async def test_renewal_with_an_unchanged_key_after_a_restart_gets_a_new_certificate(
    stack: Stack,
) -> None:
    csr, first = await same_csr_in_flight(stack, "renewal-1", "renewal-2", "renewal")

    stack.emulator.faults = Faults()
    await stack.replicas[0].restart()

    async def obtained() -> str | None:
        return (await order_status(stack, "renewal-2")).get("certificateID")

    await poll(obtained, timeout=WAIT, describe=lambda: "renewal-2 obtained no certificate")
    stack.emulator.release(first)

    old = await issued_chain(stack, E2E_NAMESPACE, "renewal-1", csr)
    new = await issued_chain(stack, E2E_NAMESPACE, "renewal-2", csr)
    assert (await order_status(stack, "renewal-2"))["certificateID"] != first
    assert new.serial_number != old.serial_number


async def test_namespace_deleted_mid_flight_cancels_its_certificate(stack: Stack) -> None:
    namespace = "ownership-gone"
    await stack.cluster.create_namespace(namespace)
    await stack.cluster.create_api_key_secret(namespace)
    await create_issuer(stack, ISSUER, namespace=namespace)
    await stack.cluster.wait_for_issuer("ZeroSSLIssuer", ISSUER, namespace)
    csr = make_csr([f"gone.{DOMAIN}"])
    stack.emulator.faults = Faults(stuck_issuance=True)
    ref = issuer_ref("ZeroSSLIssuer", ISSUER)
    await stack.cluster.create_certificate_request(namespace, "gone", csr, ref)
    (held,) = await wait_held(stack, csr, 1)

    metrics = await stack.replicas[0].scrape_metrics()
    cancels = metrics.value(CANCELS, outcome="cancelled") or 0.0

    await stack.kube.delete("v1", "Namespace", namespace, None)
    await wait_gone(stack, "v1", "Namespace", namespace, None)

    assert stack.emulator.certificate(held).status == "cancelled"
    metrics = await stack.replicas[0].scrape_metrics()
    assert metrics.value(CANCELS, outcome="cancelled") == cancels + 1
    assert not metrics.value(CANCELS, outcome="skipped")
