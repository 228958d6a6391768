"""End to end: the real controller validates domains by email (EMAIL): it asks ZeroSSL to mail
the configured administrative address of each name, waits while a person approves, and
collects the certificate once every name is approved. A wildcard may be validated by email
too. A request deleted while the emails are unanswered cancels the ZeroSSL certificate.
One stack and one ZeroSSLIssuer serve the module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from controller.sandbox.stack import Stack, find_condition, issuer_ref, make_csr
from controller.sandbox.stack.cluster import ISSUER_API_VERSION
from controller.sandbox.stack.waiting import poll
from controller.sandbox.zerossl.emulator import CertificateView
from tests.conftest import KubeWorld
from tests.e2e.support import E2E_NAMESPACE
from tests.e2e.support.issuance import (
    WAIT,
    calls_since,
    create_issuer,
    events_about,
    get_order,
    issued_chain,
    log_mark,
    module_stack,
    reported,
    san_names,
    wait_for_certificate,
    wait_gone,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

ISSUER = "email"
REF = issuer_ref("ZeroSSLIssuer", ISSUER)
NAMESPACE = E2E_NAMESPACE
CORP_ZONE = "corp.example.org"
EXPLAINED_WITHIN = 3.0
"""The controller writes an order's status within a reconcile of ZeroSSL's answer."""
SOLVERS: list[dict[str, Any]] = [
    # Every name in corp.example.org is approved by hostmaster@corp.example.org.
    {
        "selector": {"dnsZones": [CORP_ZONE]},
        "email": {"localPart": "hostmaster", "domain": CORP_ZONE},
    },
    {"email": {}},
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(kube_world: KubeWorld) -> AsyncIterator[Stack]:
    async with module_stack(kube_world) as running:
        await running.cluster.create_api_key_secret(NAMESPACE)
        await create_issuer(running, ISSUER, solvers=SOLVERS)
        await running.cluster.wait_for_issuer("ZeroSSLIssuer", ISSUER, NAMESPACE, timeout=WAIT)
        yield running


@pytest.fixture(autouse=True)
def _report(request: pytest.FixtureRequest, stack: Stack) -> Iterator[None]:
    yield from reported(request, stack)


async def zerossl_certificate(stack: Stack, certificate_id: str) -> dict[str, Any]:
    """``GET /certificates/{id}`` of the public API, as the account owner sees it."""
    url = f"{stack.zerossl_url}/certificates/{certificate_id}"
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            url,
            params={"access_key": stack.options.api_key},
            timeout=aiohttp.ClientTimeout(total=10),
        ) as reply,
    ):
        assert reply.status == 200, await reply.text()
        answer: dict[str, Any] = await reply.json()
        return answer


async def awaiting_approval(stack: Stack, name: str, csr: bytes) -> CertificateView:
    """Create the request; the ZeroSSL certificate once its validation emails went out."""
    await stack.cluster.create_certificate_request(NAMESPACE, name, csr, REF)
    return await wait_for_certificate(stack, csr, status="pending_validation")


async def test_each_name_is_approved_by_its_configured_address(stack: Stack) -> None:
    names = [CORP_ZONE, f"shop.{CORP_ZONE}"]
    csr = make_csr(names)
    mark = log_mark(stack)
    pending = await awaiting_approval(stack, "email-corp", csr)

    certificate = await zerossl_certificate(stack, pending.id)
    assert certificate["validation_type"] == "EMAIL"
    assert certificate["validation_emails"] == ",".join([f"hostmaster@{CORP_ZONE}"] * 2)
    order = await get_order(stack, "email-corp")
    assert order is not None
    assert {v["email"]["address"] for v in order["status"]["validations"]} == {
        f"hostmaster@{CORP_ZONE}"
    }

    for domain in names:
        stack.emulator.approve_email(pending.id, domain)
    leaf = await issued_chain(stack, NAMESPACE, "email-corp", csr)
    assert sorted(san_names(leaf)) == sorted(names)
    assert stack.emulator.certificate(pending.id).emails_sent == 1
    assert calls_since(stack, mark, "verify") == 1
    assert calls_since(stack, mark, "resend_email") == 0


async def test_wildcard_is_validated_by_email(stack: Stack) -> None:
    csr = make_csr(["*.mail.example.org"])
    pending = await awaiting_approval(stack, "email-wildcard", csr)

    certificate = await zerossl_certificate(stack, pending.id)
    assert certificate["validation_emails"] == "admin@mail.example.org"
    stack.emulator.approve_email(pending.id)
    leaf = await issued_chain(stack, NAMESPACE, "email-wildcard", csr)
    assert san_names(leaf) == ["*.mail.example.org"]


async def test_waiting_for_approval_names_the_address(stack: Stack) -> None:
    csr = make_csr(["wait.example.org"])
    await awaiting_approval(stack, "email-wait", csr)
    expected = "waiting for the approval email to admin@wait.example.org"
    seen: list[str] = []

    async def explained() -> bool | None:
        nonlocal seen
        order = await get_order(stack, "email-wait")
        request = await stack.cluster.get_request(NAMESPACE, "email-wait")
        events = await events_about(stack, "ZeroSSLOrder", "email-wait", NAMESPACE)
        seen = [
            *(str((find_condition(o, "Ready") or {}).get("message")) for o in (order, request)),
            *(str(e.get("note")) for e in events),
        ]
        conditions, notes = seen[:2], seen[2:]
        said = [expected in text.lower() for text in conditions]
        return True if all(said) and any(expected in n.lower() for n in notes) else None

    await poll(explained, timeout=EXPLAINED_WITHIN, describe=lambda: f"{expected!r} not in {seen}")


async def test_a_resend_annotation_mails_the_approval_again_once(stack: Stack) -> None:
    csr = make_csr(["resend.example.org"])
    pending = await awaiting_approval(stack, "email-resend", csr)
    sent = stack.emulator.certificate(pending.id).emails_sent
    mark = log_mark(stack)
    annotations = {"zerossl.issuer.dev/resend-email": "first"}
    await stack.kube.merge_patch(
        {
            "apiVersion": ISSUER_API_VERSION,
            "kind": "ZeroSSLOrder",
            "metadata": {
                "name": "email-resend",
                "namespace": NAMESPACE,
                "annotations": annotations,
            },
        }
    )

    async def resent() -> bool | None:
        current = await get_order(stack, "email-resend")
        return True if (current.get("status") or {}).get("emailResend") == "first" else None

    await poll(resent, timeout=WAIT, describe=lambda: "status.emailResend never became 'first'")
    assert stack.emulator.certificate(pending.id).emails_sent == sent + 1
    assert calls_since(stack, mark, "resend_email") == 1
    events = await events_about(stack, "ZeroSSLOrder", "email-resend", NAMESPACE)
    assert any(e.get("reason") == "EmailResent" for e in events)


async def test_request_deleted_while_awaiting_approval_cancels_the_certificate(
    stack: Stack,
) -> None:
    csr = make_csr(["gone.example.org"])
    pending = await awaiting_approval(stack, "email-deleted", csr)

    await stack.kube.delete("cert-manager.io/v1", "CertificateRequest", "email-deleted", NAMESPACE)
    await wait_gone(stack, ISSUER_API_VERSION, "ZeroSSLOrder", "email-deleted", NAMESPACE)
    assert stack.emulator.certificate(pending.id).status == "cancelled"
