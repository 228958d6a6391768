"""Creating a request's ZeroSSLOrder, in-process against the emulated kube-apiserver: the
request says an order is at work only once it exists, and an order the API server refuses as
invalid fails the request with the server's reason instead of being retried for ever."""

from __future__ import annotations

import asyncio
import logging

import pytest

from controller.sandbox.stack.cluster import REQUEST_API_VERSION as REQUEST_API
from controller.sandbox.stack.csr import make_csr
from tests.integration.issuer.harness import ISSUER, Sandbox, ready, ready_reason

pytestmark = pytest.mark.integration

HTTP_NONE = {"http": {"none": {}}}
NAMESPACE = "orders"


def _request(sandbox: Sandbox, name: str) -> dict[str, object] | None:
    return sandbox.api.get_object(REQUEST_API, "CertificateRequest", name, NAMESPACE)


def _events(sandbox: Sandbox, name: str) -> list[str]:
    return [
        str(e.get("reason"))
        for e in sandbox.api.list_objects("events.k8s.io/v1", "Event", NAMESPACE)
        if (e.get("regarding") or {}).get("name") == name
    ]


async def test_an_order_the_api_server_refuses_fails_the_request(sandbox: Sandbox) -> None:
    await sandbox.issuer(HTTP_NONE)
    sandbox.api.faults.set_error("create", "zerosslorders", 1.0, status=422)
    async with sandbox.running():
        await sandbox.cluster.wait_for_issuer("ZeroSSLClusterIssuer", ISSUER, status="True")
        sandbox.zerossl.request_log.clear()
        await sandbox.request(NAMESPACE, "refused", make_csr(["refused.example.com"]))
        request = await sandbox.cluster.wait_for_request(
            NAMESPACE, "refused", status="False", reason="Failed", timeout=10
        )
    condition = ready(request)
    assert condition is not None
    assert condition["message"] == (
        "the API server refused to create ZeroSSLOrder refused for this request: "
        "injected fault (422)"
    )
    assert request["status"]["failureTime"]
    assert "OrderRejected" in _events(sandbox, "refused")
    assert sandbox.order(NAMESPACE, "refused") is None
    assert sandbox.zerossl.request_log.entries() == []


async def test_the_request_claims_no_order_before_it_exists(sandbox: Sandbox) -> None:
    await sandbox.issuer(HTTP_NONE)
    sandbox.api.faults.set_error("create", "zerosslorders", 1.0, status=503)
    async with sandbox.running():
        await sandbox.cluster.wait_for_issuer("ZeroSSLClusterIssuer", ISSUER, status="True")
        await sandbox.request(NAMESPACE, "later", make_csr(["later.example.com"]))
        await asyncio.sleep(1.0)  # several refused creates (the worker's backoff starts at 5 ms)
        assert sandbox.order(NAMESPACE, "later") is None
        condition = ready(_request(sandbox, "later"))
        assert condition is not None  # what stands in the way, not a claim of progress
        assert (condition["reason"], condition["message"]) == (
            "Pending",
            "could not create ZeroSSLOrder later yet (injected fault (503)); retrying with backoff",
        )

        sandbox.api.faults.clear()
        await sandbox.order_reason(NAMESPACE, "later", "Issued")
        request = await sandbox.cluster.wait_for_request(NAMESPACE, "later", timeout=10)
    assert ready_reason(request) == "Issued"


async def test_an_issuance_logs_its_milestones(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    await sandbox.issuer(HTTP_NONE)
    names = ["logged.example.com", "www.logged.example.com"]
    with caplog.at_level(logging.DEBUG, logger="controller"):
        async with sandbox.running():
            await sandbox.cluster.wait_for_issuer("ZeroSSLClusterIssuer", ISSUER, status="True")
            await sandbox.request(NAMESPACE, "logged", make_csr(names))
            await sandbox.cluster.wait_for_request(NAMESPACE, "logged", timeout=10)
    milestones = [
        (r.levelno, r.milestone, r.getMessage())
        for r in caplog.records
        if getattr(r, "milestone", None) and f"{NAMESPACE}/logged" in r.getMessage()
    ]
    assert [(level, m) for level, m, _ in milestones] == [
        (logging.INFO, "order_created"),
        (logging.DEBUG, "certificate_created"),
        (logging.INFO, "validation_published"),
        (logging.INFO, "validation_published"),
        (logging.INFO, "verified"),
        (logging.DEBUG, "downloaded"),
        (logging.INFO, "issued"),
    ]
    assert milestones[0][2] == f"order {NAMESPACE}/logged created for 2 name(s): {', '.join(names)}"
