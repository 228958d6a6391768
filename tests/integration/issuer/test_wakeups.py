"""What wakes the reconcilers, in-process on the production wiring: a rotated API-key Secret
wakes its issuer (checked again at once, the new key used), and a request deleted with
``propagationPolicy=Orphan`` wakes its order, which then deletes itself and cancels its
certificate (nothing else touches an orphaned order)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from controller.sandbox.stack.cluster import REQUEST_API_VERSION as REQUEST_API
from controller.sandbox.stack.csr import make_csr
from controller.sandbox.zerossl import Faults
from tests.integration.issuer.harness import ISSUER, NAMESPACE, Sandbox

pytestmark = pytest.mark.integration

HTTP_NONE: dict[str, Any] = {"http": {"none": {}}}
ROTATED_KEY = "rotated-integration-api-key"
HOLD = "example.com/hold"  # a finalizer of some other controller


def checked_secret_version(issuer: dict[str, Any] | None) -> str | None:
    return ((issuer or {}).get("status") or {}).get("checkedSecretVersion")


async def test_a_rotated_api_key_is_checked_at_once_and_used(sandbox: Sandbox) -> None:
    zerossl = sandbox.zerossl
    rotated_account = zerossl.add_account(ROTATED_KEY)
    await sandbox.issuer(HTTP_NONE)
    async with sandbox.running():
        issuer = await sandbox.cluster.wait_for_issuer(
            "ZeroSSLClusterIssuer", ISSUER, status="True"
        )
        first_check = checked_secret_version(issuer)
        assert first_check is not None
        secret = await sandbox.cluster.kube.merge_patch(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "zerossl-api-key", "namespace": NAMESPACE},
                "data": {"api-key": base64.b64encode(ROTATED_KEY.encode()).decode()},
            }
        )
        rotated = secret["metadata"]["resourceVersion"]
        # The next periodic check is minutes away: only the Secret's watch wakes the issuer.
        await sandbox.until(
            lambda: checked_secret_version(sandbox.issuer_object()) == rotated or None,
            lambda: f"issuer checked the rotated key? {sandbox.issuer_object()}",
            timeout=5.0,
        )
        zerossl.request_log.clear()
        await sandbox.request("shop", "web-1", make_csr(["shop.example.com"]))
        await sandbox.order_reason("shop", "web-1", "Issued")

    assert [c.account for c in zerossl.certificates()] == [rotated_account]
    ready_issuer = sandbox.issuer_object() or {}
    conditions = ready_issuer["status"]["conditions"]
    assert [c["status"] for c in conditions if c["type"] == "Ready"] == ["True"]


async def test_an_orphaned_order_deletes_itself_and_cancels_its_certificate(
    sandbox: Sandbox,
) -> None:
    zerossl = sandbox.zerossl
    zerossl.faults = Faults(stuck_issuance=True)  # the order then waits on the poller alone
    await sandbox.issuer(HTTP_NONE)
    async with sandbox.running():
        await sandbox.request("shop", "web-1", make_csr(["shop.example.com"]))
        order = await sandbox.accepted("shop", "web-1")
        assert [ref["kind"] for ref in order["metadata"]["ownerReferences"]] == [
            "CertificateRequest"
        ]
        # Another controller's finalizer keeps the request a while after the garbage collector
        # orphaned the order (its last change): the order is reconciled while its request still
        # exists, then only the request's deletion can wake it.
        admin = sandbox.cluster.kube
        request = {"apiVersion": REQUEST_API, "kind": "CertificateRequest"}
        meta = {"name": "web-1", "namespace": "shop"}
        await admin.merge_patch({**request, "metadata": {**meta, "finalizers": [HOLD]}})
        requests = await admin.resource(REQUEST_API, "CertificateRequest")
        await admin.request(
            "DELETE", requests.path("shop", "web-1"), params={"propagationPolicy": "Orphan"}
        )
        await sandbox.order_where(
            "shop", "web-1", lambda o: not o["metadata"].get("ownerReferences"), "orphaned"
        )
        await asyncio.sleep(1.0)  # the order's own event has been handled by now
        still = sandbox.order("shop", "web-1")
        assert still is not None
        assert not still["metadata"].get("deletionTimestamp")  # its request still exists
        assert sandbox.zerossl.certificate(still["status"]["certificateID"]).status == (
            "pending_validation"
        )

        await admin.merge_patch({**request, "metadata": {**meta, "finalizers": None}})
        await sandbox.until(
            lambda: sandbox.order("shop", "web-1") is None or None,
            lambda: f"orphaned order gone? {sandbox.order('shop', 'web-1')}",
            timeout=10.0,
        )

    assert sandbox.api.get_object(REQUEST_API, "CertificateRequest", "web-1", "shop") is None
    assert zerossl.certificate(order["status"]["certificateID"]).status == "cancelled"
