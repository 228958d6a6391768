"""Issuance end to end in-process: approved CertificateRequests become ZeroSSL certificates
through real informers, queues, reconcilers, the batch poller and the HTTP solver, against the
emulated kube-apiserver and ZeroSSL."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import math
import socket
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography import x509

from controller.clock import parse_rfc3339
from controller.issuer.controllers.poller import JITTER
from controller.issuer.solvers.http import HTTPROUTES
from controller.kube.resource import INGRESSES
from controller.observability import metrics
from controller.sandbox.stack.cluster import REQUEST_API_VERSION as REQUEST_API
from controller.sandbox.stack.cluster import find_condition
from controller.sandbox.stack.csr import make_csr
from controller.sandbox.zerossl import EndpointFaults, Faults, IssuanceDelay
from tests.integration.issuer.harness import (
    API_KEY,
    ISSUER,
    NAMESPACE,
    POLICY,
    Sandbox,
    ready,
    ready_reason,
)
from tests.support.bind9 import Bind9

pytestmark = pytest.mark.integration

Obj = dict[str, Any]
HTTP_NONE: Obj = {"http": {"none": {}}}
HTTP_INGRESS: Obj = {"http": {"ingress": {"ingressClassName": "nginx"}}}


def chain_of(pem: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem.encode())


async def test_http_validation_issues_the_chain_leaf_first(sandbox: Sandbox) -> None:
    await sandbox.issuer(HTTP_INGRESS)
    csr_pem = make_csr(["shop.example.com", "www.shop.example.com"])
    async with sandbox.running():
        await sandbox.cluster.wait_for_issuer("ZeroSSLClusterIssuer", ISSUER, status="True")
        sandbox.zerossl.request_log.clear()  # the issuer's key check is not the issuance's
        await sandbox.request("shop", "web-1", csr_pem)
        await sandbox.order_reason("shop", "web-1", "Issued")
        request = await sandbox.cluster.wait_for_request("shop", "web-1", timeout=10)
        order = await sandbox.cleaned_up("shop", "web-1")

    status = order["status"]
    leaf, intermediate = chain_of(status["certificate"])
    csr = x509.load_pem_x509_csr(csr_pem)
    assert leaf.public_key() == csr.public_key()
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["shop.example.com", "www.shop.example.com"]
    assert leaf.issuer == intermediate.subject
    assert intermediate == x509.load_pem_x509_certificate(sandbox.zerossl.intermediate_pem.encode())
    assert base64.b64decode(request["status"]["certificate"]).decode() == status["certificate"]
    assert status["zerosslStatus"] == "issued"
    assert [v["state"] for v in status["validations"]] == ["Valid", "Valid"]
    assert sandbox.api.list_objects("networking.k8s.io/v1", "Ingress", NAMESPACE) == []
    [certificate] = sandbox.zerossl.certificates()
    assert certificate.status == "issued"
    assert certificate.id == status["certificateID"]
    # This replica created the order, so it created the certificate without searching first
    # (later lists are the batch poller's).
    calls = [e.endpoint for e in sandbox.zerossl.request_log.entries()]
    assert calls[: calls.index("verify") + 1] == ["create", "verify"], calls


def closed_port() -> int:
    """A loopback port nothing listens on (validation traffic sent there fails)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def version(obj: Obj | None) -> str:
    return str((obj or {}).get("metadata", {}).get("resourceVersion"))


def validation(order: Obj | None) -> Obj:
    return ((order or {}).get("status") or {}).get("verify") or {}


async def test_an_issued_request_whose_status_is_reset_is_issued_again_from_its_csr(
    sandbox: Sandbox,
) -> None:
    """The cache holds an Issued request without its CSR and chain; once its status is reset,
    the next event carries them again: the order's chain is checked against the CSR and the
    request is Issued again (never CertificateMismatch), with no new certificate."""
    await sandbox.issuer(HTTP_INGRESS)
    async with sandbox.running() as replica:
        await sandbox.cluster.wait_for_issuer("ZeroSSLClusterIssuer", ISSUER, status="True")
        await sandbox.request("shop", "web-1", make_csr(["shop.example.com"]))
        issued = await sandbox.cluster.wait_for_request("shop", "web-1", timeout=20)
        store = replica.caches.requests.store

        def trimmed() -> Obj | None:
            cached = store.get("shop/web-1")
            done = ready_reason(cached) == "Issued" and cached is not None
            return cached if done and "request" not in cached["spec"] else None

        cached = await sandbox.until(trimmed, lambda: f"trimmed? {store.get('shop/web-1')}")
        assert "certificate" not in cached["status"]
        reset = {**issued, "status": {"conditions": [find_condition(issued, "Approved")]}}
        await sandbox.cluster.kube.replace_status(reset)
        again = await sandbox.cluster.wait_for_request("shop", "web-1", timeout=20)

    assert again["status"]["certificate"] == issued["status"]["certificate"]
    assert sandbox.zerossl.request_log.counts_by_endpoint()["create"] == 1


@pytest.mark.parametrize(
    ("solver", "kind"),
    [
        (HTTP_INGRESS, "Ingress"),
        (
            {"http": {"gatewayHTTPRoute": {"parentRefs": [{"name": "public"}]}}},
            "HTTPRoute",
        ),
    ],
    ids=["ingress", "httproute"],
)
async def test_verify_not_yet_backs_off_then_succeeds_routed_by_a_route_object(
    sandbox: Sandbox, solver: Obj, kind: str
) -> None:
    api_version = INGRESSES.api_version if kind == "Ingress" else HTTPROUTES.api_version
    await sandbox.issuer(solver)
    zerossl = sandbox.zerossl
    async with sandbox.running() as replica:
        zerossl.resolve("shop.example.com", "127.0.0.1", closed_port())
        await sandbox.request("shop", "web-1", make_csr(["shop.example.com"]))
        order = await sandbox.order_where(
            "shop", "web-1", lambda o: validation(o).get("attempts", 0) >= 2, "verify backing off"
        )
        assert ready_reason(order) == "Validating"
        [route] = sandbox.api.list_objects(api_version, kind, NAMESPACE)
        path = order["status"]["validations"][0]["http"]["path"]
        if kind == "Ingress":
            [rule] = route["spec"]["rules"]
            assert rule["host"] == "shop.example.com"
            assert rule["http"]["paths"][0]["path"] == path
        else:
            assert route["spec"]["hostnames"] == ["shop.example.com"]
            assert route["spec"]["rules"][0]["matches"] == [
                {"path": {"type": "Exact", "value": path}}
            ]

        zerossl.resolve("shop.example.com", "127.0.0.1", replica.solver_port)  # routing works now
        await sandbox.order_reason("shop", "web-1", "Issued")
        await sandbox.cleaned_up("shop", "web-1")
        await sandbox.until(
            lambda: not sandbox.api.list_objects(api_version, kind, NAMESPACE) or None,
            lambda: f"{kind} removed?",
        )

    counts = zerossl.request_log.counts_by_endpoint()
    assert counts["create"] == 1
    assert counts["verify"] >= 3  # two refusals, then the success


async def test_creates_whose_answers_were_lost_are_adopted_after_a_restart(
    sandbox: Sandbox,
) -> None:
    """Every order's create reached ZeroSSL, no answer came back, the replica died: the next
    replica did not create these orders, so each searches before creating. The searches that
    wait together share one listing of the account (a slow bucket keeps them waiting
    together), and every order adopts its own draft."""
    orders = 6
    await sandbox.issuer(HTTP_NONE)
    zerossl = sandbox.zerossl
    zerossl.faults = Faults(
        endpoints={"create": EndpointFaults(timeout_rate=1.0, after_effect=True)},
        hang_seconds=30.0,
    )
    async with sandbox.running(workers=orders + 2):
        for index in range(orders):
            await sandbox.request("shop", f"web-{index}", make_csr([f"w{index}.example.com"]))
        await sandbox.until(
            lambda: len(zerossl.certificates()) == orders or None,
            lambda: "every create reached ZeroSSL?",
        )
    for index in range(orders):
        status = (sandbox.order("shop", f"web-{index}") or {}).get("status") or {}
        assert "certificateID" not in status

    zerossl.faults = Faults()
    zerossl.request_log.clear()
    searches_before = {how: draft_searches(how) for how in ("search", "listing")}
    async with sandbox.running(
        workers=orders + 2, zerossl_qps=5.0, zerossl_burst=1, poll_interval=1.0
    ):
        adopted = [
            await sandbox.order_reason("shop", f"web-{index}", "Issued") for index in range(orders)
        ]

    for order in adopted:
        md5 = order["spec"]["csrHash"]["md5"]
        mine = [c for c in zerossl.certificates() if c.csr_md5 == md5]
        assert [(c.id, c.status) for c in mine] == [(order["status"]["certificateID"], "issued")]
    assert "create" not in zerossl.request_log.counts_by_endpoint()  # found by the searches
    searches = {how: draft_searches(how) - searches_before[how] for how in searches_before}
    assert sum(searches.values()) >= orders
    assert searches["listing"] >= 2, searches


def draft_searches(served_by: str) -> float:
    value = metrics.registry.get_sample_value(
        "zerossl_issuer_draft_searches_total", {"served_by": served_by}
    )
    return value or 0.0


async def test_a_verify_that_took_effect_unseen_is_followed_not_failed(sandbox: Sandbox) -> None:
    """The verify reached ZeroSSL but its answer was lost (a failover, a timeout): the repeat
    gets 2830 certificate_not_eligible, and the order follows the certificate instead of
    failing."""
    await sandbox.issuer(HTTP_NONE)
    zerossl = sandbox.zerossl
    zerossl.faults = Faults(
        endpoints={"verify": EndpointFaults(server_error_rate=1.0, after_effect=True)},
    )
    async with sandbox.running():
        await sandbox.request("shop", "web-9", make_csr(["nine.example.com"]))
        await sandbox.until(
            lambda: any(c.status != "draft" for c in zerossl.certificates()) or None,
            lambda: "the verify reached ZeroSSL?",
        )
        zerossl.faults = Faults()
        order = await sandbox.order_reason("shop", "web-9", "Issued")
    counts = zerossl.request_log.counts_by_endpoint()
    assert counts["verify"] >= 2  # the lost one, then the one answered 2830
    assert counts["get"] >= 1  # read once to see where ZeroSSL is
    md5 = order["spec"]["csrHash"]["md5"]
    assert [c.status for c in zerossl.certificates() if c.csr_md5 == md5] == ["issued"]


async def test_deleting_mid_validation_cancels_the_draft_and_removes_the_route(
    sandbox: Sandbox,
) -> None:
    await sandbox.issuer(HTTP_INGRESS)
    zerossl = sandbox.zerossl
    async with sandbox.running():
        zerossl.resolve("shop.example.com", "127.0.0.1", closed_port())
        await sandbox.request("shop", "web-1", make_csr(["shop.example.com"]))
        order = await sandbox.order_where(
            "shop", "web-1", lambda o: bool(validation(o)), "validating"
        )
        assert sandbox.api.list_objects(INGRESSES.api_version, "Ingress", NAMESPACE)

        await sandbox.cluster.kube.delete(REQUEST_API, "CertificateRequest", "web-1", "shop")
        await sandbox.until(
            lambda: sandbox.order("shop", "web-1") is None or None,
            lambda: f"order gone? {sandbox.order('shop', 'web-1')}",
        )

    certificate = zerossl.certificate(order["status"]["certificateID"])
    assert certificate.status == "cancelled"
    assert sandbox.api.list_objects(INGRESSES.api_version, "Ingress", NAMESPACE) == []


async def test_a_used_up_quota_flags_the_issuer_and_the_order_waits_without_a_storm(
    sandbox: Sandbox,
) -> None:
    zerossl = sandbox.zerossl
    zerossl.add_account(API_KEY, quota=1)
    await sandbox.issuer(HTTP_NONE)
    # The failed create waits 3 s (whole seconds once written), long enough for the flag.
    policy = dataclasses.replace(POLICY, retry_backoff=3.0, retry_backoff_cap=3.0)
    async with sandbox.running(policy):
        await sandbox.request("shop", "one", make_csr(["one.example.com"]))
        await sandbox.order_reason("shop", "one", "Issued")
        await sandbox.request("shop", "two", make_csr(["two.example.com"]))
        await sandbox.order_reason("shop", "two", "WaitingForIssuer")
        issuer = await sandbox.cluster.wait_for_issuer(
            "ZeroSSLClusterIssuer", ISSUER, status="False", timeout=10
        )
        assert ready_reason(issuer) == "QuotaExhausted"
        seen: dict[str, set[str]] = {"order": set(), "issuer": set()}
        for _ in range(40):  # 2 s; the order looks again every second (POLICY.issuer_wait)
            seen["order"].add(version(sandbox.order("shop", "two")))
            seen["issuer"].add(version(sandbox.issuer_object()))
            await asyncio.sleep(0.05)

        assert zerossl.request_log.counts_by_endpoint()["create"] == 2
        assert "certificateID" not in (sandbox.order("shop", "two") or {})["status"]
        assert ready_reason(sandbox.order("shop", "two")) == "WaitingForIssuer"
        # No write storm: at most the end of the retry window rewrites the waiting message.
        assert len(seen["order"]) <= 2, seen
        assert len(seen["issuer"]) == 1, seen


async def test_a_certificate_cancelled_out_of_band_cancels_the_order(sandbox: Sandbox) -> None:
    zerossl = sandbox.zerossl
    zerossl.faults = Faults(stuck_issuance=True)
    await sandbox.issuer(HTTP_NONE)
    async with sandbox.running():
        await sandbox.request("shop", "web-1", make_csr(["shop.example.com"]))
        order = await sandbox.accepted("shop", "web-1")
        zerossl.cancel(order["status"]["certificateID"])
        order = await sandbox.order_reason("shop", "web-1", "Cancelled")

    assert order["status"]["zerosslStatus"] == "cancelled"
    assert "changed outside this controller" in str((ready(order) or {}).get("message"))
    assert zerossl.request_log.counts_by_endpoint().get("get") == 1  # found out by one GET


async def test_email_validation_issues_once_the_mail_is_confirmed(sandbox: Sandbox) -> None:
    await sandbox.issuer({"email": {"localPart": "hostmaster"}})
    zerossl = sandbox.zerossl
    async with sandbox.running():
        await sandbox.request("shop", "web-1", make_csr(["shop.example.com"]))
        order = await sandbox.order_reason("shop", "web-1", "WaitingForIssuance")
        assert "hostmaster@shop.example.com" in str((ready(order) or {}).get("message"))
        certificate_id = order["status"]["certificateID"]
        assert zerossl.certificate(certificate_id).emails_sent >= 1

        zerossl.approve_email(certificate_id)
        order = await sandbox.order_reason("shop", "web-1", "Issued")

    [record] = order["status"]["validations"]
    assert record["email"] == {"address": "hostmaster@shop.example.com"}
    assert chain_of(order["status"]["certificate"])[0].serial_number


async def test_dns_validation_through_rfc2136_publishes_then_removes_the_cname(
    sandbox: Sandbox, bind9: Bind9
) -> None:
    key = bind9.keys["HMACSHA256"]
    await sandbox.cluster.kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "tsig", "namespace": NAMESPACE},
            "data": {"secret": base64.b64encode(key.secret.encode()).decode()},
        }
    )
    await sandbox.issuer(
        {
            "dns": {
                "rfc2136": {
                    "nameserver": bind9.address,
                    "tsigKeyName": key.name,
                    "tsigAlgorithm": "HMACSHA256",
                    "tsigSecretRef": {"name": "tsig", "key": "secret"},
                },
                "propagation": {"nameservers": [bind9.address]},
            }
        }
    )
    sandbox.zerossl.set_dns_server(bind9.host, bind9.port)
    async with sandbox.running():
        await sandbox.request("shop", "api", make_csr(["api.sub.example.com"]))
        await sandbox.order_reason("shop", "api", "Issued")
        order = await sandbox.cleaned_up("shop", "api")

    [record] = order["status"]["validations"]
    cname = record["cname"]
    assert cname["name"].lower().startswith("_" + order["spec"]["csrHash"]["md5"].lower())
    assert record["state"] == "Valid"
    assert bind9.cname(cname["name"]) is None  # removed after issuance
    assert chain_of(order["status"]["certificate"])[0].serial_number


async def test_a_solver_refused_by_the_dns_server_waits_and_warns_never_fails(
    sandbox: Sandbox, bind9: Bind9
) -> None:
    await sandbox.issuer({"dns": {"rfc2136": {"nameserver": bind9.address}}})
    sandbox.zerossl.set_dns_server(bind9.host, bind9.port)
    async with sandbox.running():
        await sandbox.request("shop", "api", make_csr(["api.locked.example.net"]))
        order = await sandbox.order_where(
            "shop", "api", lambda o: bool(o.get("status", {}).get("retry")), "retrying"
        )
        events = await sandbox.until(
            lambda: (
                [
                    e
                    for e in sandbox.api.list_objects("events.k8s.io/v1", "Event", "shop")
                    if e.get("reason") == "SolverRefused"
                ]
                or None
            ),
            lambda: "a SolverRefused Event?",
        )

    status = order["status"]
    assert ready_reason(order) == "Presenting"  # not Failed: fixing the solver is enough
    wait = parse_rfc3339(status["retry"]["notBefore"]) - datetime.now(UTC)
    assert wait.total_seconds() > 200  # a long wait, not a tight retry loop
    assert "fix the solver spec or its Secret" in status["validations"][0]["lastError"]
    assert events[0]["type"] == "Warning"
    assert events[0]["regarding"]["name"] == "api"
    assert "api.locked.example.net" in events[0]["note"]


async def test_the_poller_keeps_calls_near_three_per_certificate(sandbox: Sandbox) -> None:
    orders = 8
    interval = 0.5
    zerossl = sandbox.zerossl
    zerossl.issuance_delay = IssuanceDelay(1.0, 1.0)
    await sandbox.issuer(HTTP_NONE)
    async with sandbox.running(poll_interval=interval):
        started = time.monotonic()
        for index in range(orders):
            await sandbox.request("shop", f"web-{index}", make_csr([f"w{index}.example.com"]))
        for index in range(orders):
            await sandbox.order_reason("shop", f"web-{index}", "Issued")
        elapsed = time.monotonic() - started

    counts = zerossl.request_log.counts_by_endpoint()
    print(f"{orders} certificates in {elapsed:.2f}s: ZeroSSL calls {dict(sorted(counts.items()))}")
    assert counts["create"] == counts["verify"] == counts["download_return"] == orders
    assert counts.get("get", 0) == 0  # no GET per order
    rounds = math.ceil(elapsed / (interval * (1 - JITTER)))
    assert counts["list"] <= 1 + rounds  # the issuer check, then one list per round
    assert counts["list"] < orders
