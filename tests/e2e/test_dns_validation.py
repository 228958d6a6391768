"""End to end: the real controller validates domains by DNS (CNAME_CSR_HASH) through each
provider: a wildcard through RFC 2136 updates of a real BIND9, several names through
external-dns' DNSEndpoint objects, and names in the Cloudflare and Route 53 emulators. The
emulated ZeroSSL checks the CNAMEs in the test's DNS server, which answers from those places
(see :mod:`tests.e2e.support.dns`), and so does the controller before asking ZeroSSL.

Each test checks that the records are gone afterwards: after success, after a failure (the
certificate cancelled at ZeroSSL while it was being issued) and after the request was deleted
in the middle of validation (a CAA record refusing sectigo.com, which the condition explains).
One stack and one ZeroSSLClusterIssuer, with a solver per zone, serve the module.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from controller.sandbox.cloudflare import CloudflareEmulator
from controller.sandbox.route53 import Route53Emulator
from controller.sandbox.stack import Stack, find_condition, issuer_ref, make_csr
from controller.sandbox.stack.cluster import ISSUER_API_VERSION
from controller.sandbox.stack.waiting import poll
from tests.conftest import KubeWorld
from tests.e2e.support import E2E_NAMESPACE
from tests.e2e.support.dns import (
    DNSENDPOINT_API_VERSION,
    CnameLookup,
    CnameServer,
    ExternalDNS,
    PublishedRecords,
    cloudflare_cnames,
    first_of,
    forwarded,
    query_cname,
    register_dnsendpoint_crd,
    route53_cnames,
)
from tests.e2e.support.issuance import (
    WAIT,
    certificates_for,
    csr_md5,
    issued_chain,
    module_stack,
    ready_condition,
    reported,
    san_names,
    wait_for_certificate,
    wait_for_order,
    wait_gone,
)
from tests.support.bind9 import Bind9, bind9

__all__ = ["bind9"]
pytestmark = pytest.mark.asyncio(loop_scope="module")

ISSUER = "dns"
REF = issuer_ref("ZeroSSLClusterIssuer", ISSUER)
NAMESPACE = E2E_NAMESPACE
CLOUDFLARE_TOKEN = "e2e-cloudflare-token-0123456789"
AWS_KEY_ID, AWS_SECRET = "AKIAE2EDNSVALIDATION", "e2e/route53/secret/0123456789"
EXTERNAL_DNS_LABELS = {"external-dns": "e2e"}
CLOUDFLARE_ZONE, ROUTE53_ZONE, EXTERNAL_DNS_ZONE = (
    "cf.example.org",
    "r53.example.org",
    "edns.example.org",
)
HTTP_ZONE = "web.example.org"
CONTROLLER_ENV = {"ZEROSSL_ISSUER_DNS_PROPAGATION_INTERVAL": "0.2"}


@dataclass
class DnsWorld:
    """The stack and every place a validation record can live."""

    stack: Stack
    bind9: Bind9
    cloudflare: CloudflareEmulator
    route53: Route53Emulator
    published: PublishedRecords
    external_dns: ExternalDNS
    server: CnameServer
    cname: CnameLookup
    """What public DNS says now."""


def solvers(bind9: Bind9) -> list[dict[str, object]]:
    tsig = bind9.keys["HMACSHA256"]

    def secret_ref(name: str, key: str) -> dict[str, str]:
        return {"name": name, "key": key}

    def zone(name: str) -> dict[str, list[str]]:
        return {"dnsZones": [name]}

    return [
        {
            "selector": zone("example.com"),
            "dns": {
                "rfc2136": {
                    "nameserver": bind9.address,
                    "tsigKeyName": tsig.name,
                    "tsigAlgorithm": tsig.algorithm,
                    "tsigSecretRef": secret_ref("e2e-tsig", "secret"),
                }
            },
        },
        {
            "selector": zone(CLOUDFLARE_ZONE),
            "dns": {"cloudflare": {"apiTokenSecretRef": secret_ref("e2e-cloudflare", "token")}},
        },
        {
            "selector": zone(ROUTE53_ZONE),
            "dns": {
                "route53": {
                    "region": "eu-west-1",
                    "accessKeyIDSecretRef": secret_ref("e2e-aws", "id"),
                    "secretAccessKeySecretRef": secret_ref("e2e-aws", "secret"),
                }
            },
        },
        {
            "selector": zone(EXTERNAL_DNS_ZONE),
            "dns": {"externalDNS": {"labels": EXTERNAL_DNS_LABELS}},
        },
        {"selector": zone(HTTP_ZONE), "http": {"none": {}}},
    ]


async def create_secret(stack: Stack, name: str, data: dict[str, str]) -> None:
    await stack.kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": stack.cluster.secret_namespace},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        }
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(bind9: Bind9, kube_world: KubeWorld) -> AsyncIterator[DnsWorld]:
    async with contextlib.AsyncExitStack() as parts:
        cloudflare = await parts.enter_async_context(CloudflareEmulator())
        route53 = await parts.enter_async_context(Route53Emulator())
        cloudflare.add_zone(CLOUDFLARE_ZONE)
        cloudflare.add_token(CLOUDFLARE_TOKEN)
        route53.add_zone(ROUTE53_ZONE)
        route53.add_credentials(AWS_KEY_ID, AWS_SECRET)
        published = PublishedRecords()
        cname = first_of(
            published.lookup,
            cloudflare_cnames(cloudflare),
            route53_cnames(route53),
            forwarded(bind9.host, bind9.port),
        )
        server = await parts.enter_async_context(CnameServer(cname))
        env = {
            **CONTROLLER_ENV,
            "ZEROSSL_ISSUER_DNS_RESOLVERS": server.address,
            "ZEROSSL_ISSUER_CLOUDFLARE_API_URL": cloudflare.url,
            "ZEROSSL_ISSUER_ROUTE53_API_URL": route53.url,
        }
        stack = await parts.enter_async_context(module_stack(kube_world, controller_env=env))
        stack.emulator.set_dns_server(*server.host_port)
        await register_dnsendpoint_crd(stack)
        selector = ",".join(f"{k}={v}" for k, v in EXTERNAL_DNS_LABELS.items())
        external_dns = ExternalDNS(stack.kube, published, label_selector=selector)
        await parts.enter_async_context(external_dns.running())

        await create_secret(stack, "e2e-tsig", {"secret": bind9.keys["HMACSHA256"].secret})
        await create_secret(stack, "e2e-cloudflare", {"token": CLOUDFLARE_TOKEN})
        await create_secret(stack, "e2e-aws", {"id": AWS_KEY_ID, "secret": AWS_SECRET})
        spec = {"apiKeySecretRef": {"name": "zerossl-api-key"}, "solvers": solvers(bind9)}
        await stack.cluster.create_issuer("ZeroSSLClusterIssuer", ISSUER, None, spec)
        await stack.cluster.wait_for_issuer("ZeroSSLClusterIssuer", ISSUER, timeout=WAIT)
        yield DnsWorld(stack, bind9, cloudflare, route53, published, external_dns, server, cname)


@pytest.fixture(autouse=True)
def _report(request: pytest.FixtureRequest, world: DnsWorld) -> Iterator[None]:
    yield from reported(request, world.stack)


# --- helpers -------------------------------------------------------------------------------------


def record_names(csr: bytes, dns_names: Sequence[str]) -> set[str]:
    """Where ZeroSSL looks for each name's CNAME: ``_<md5>.<name without its wildcard>``."""
    md5 = csr_md5(csr).lower()
    return {f"_{md5}.{name.removeprefix('*.')}" for name in dns_names}


def answered(world: DnsWorld, csr: bytes) -> set[str]:
    """Names of this CSR's records the DNS server has answered with a CNAME so far."""
    prefix = f"_{csr_md5(csr).lower()}."
    return {name for name in world.server.answered if name.startswith(prefix)}


async def wait_records_gone(world: DnsWorld, names: set[str]) -> None:
    left: list[str] = []

    async def probe() -> bool | None:
        nonlocal left
        left = [name for name in sorted(names) if await world.cname(name) is not None]
        return None if left else True

    await poll(probe, timeout=WAIT, describe=lambda: f"records still in DNS: {left}")


async def wait_cleanup_recorded(stack: Stack, name: str) -> dict[str, Any]:
    """The order once its status says no record is presented any more."""
    last: dict[str, Any] | None = None

    async def probe() -> dict[str, Any] | None:
        nonlocal last
        last = await stack.kube.get(ISSUER_API_VERSION, "ZeroSSLOrder", name, NAMESPACE)
        validations = ((last or {}).get("status") or {}).get("validations") or [{}]
        return last if not any(v.get("presented", True) for v in validations) else None

    return await poll(probe, timeout=WAIT, describe=lambda: f"records presented: {last}")


async def issue(world: DnsWorld, name: str, dns_names: Sequence[str]) -> bytes:
    """Request a certificate for ``dns_names``; once Issued, check the chain's names, that
    ZeroSSL found every record in DNS and that each record is gone again, in DNS and in the
    order's status. Returns the CSR."""
    csr = make_csr(dns_names)
    await world.stack.cluster.create_certificate_request(NAMESPACE, name, csr, REF)
    leaf = await issued_chain(world.stack, NAMESPACE, name, csr)
    assert sorted(san_names(leaf)) == sorted(dns_names)
    (certificate,) = certificates_for(world.stack, csr)
    assert certificate.validation_type == "CNAME_CSR_HASH"
    records = record_names(csr, dns_names)
    assert answered(world, csr) == records
    await wait_records_gone(world, records)
    await wait_cleanup_recorded(world.stack, name)
    return csr


# --- issuance through each provider --------------------------------------------------------------


async def test_wildcard_through_rfc2136_updates_of_bind9(world: DnsWorld) -> None:
    names = ["*.wild.example.com"]
    csr = await issue(world, "dns-wildcard", names)

    order = await wait_for_order(world.stack, "dns-wildcard", "Issued")
    (validation,) = order["status"]["validations"]
    assert validation["domain"] == names[0]
    assert validation["cname"]["name"].lower().rstrip(".") in record_names(csr, names)
    assert validation["state"] == "Valid"


async def test_multi_name_certificate_through_external_dns_objects(world: DnsWorld) -> None:
    names = [EXTERNAL_DNS_ZONE, f"www.{EXTERNAL_DNS_ZONE}", f"api.{EXTERNAL_DNS_ZONE}"]
    csr = await issue(world, "dns-external", names)

    records = record_names(csr, names)
    assert records <= world.published.ever
    order = await wait_for_order(world.stack, "dns-external", "Issued")
    endpoints = [
        obj
        for obj in world.external_dns.seen.values()
        if any(
            ref["uid"] == order["metadata"]["uid"]
            for ref in obj["metadata"].get("ownerReferences") or ()
        )
    ]
    assert {obj["spec"]["endpoints"][0]["dnsName"].lower() for obj in endpoints} == records
    for obj in endpoints:
        assert obj["metadata"]["labels"].items() >= EXTERNAL_DNS_LABELS.items()
        await wait_gone(
            world.stack,
            DNSENDPOINT_API_VERSION,
            "DNSEndpoint",
            obj["metadata"]["name"],
            obj["metadata"]["namespace"],
        )


async def test_names_in_the_cloudflare_emulator(world: DnsWorld) -> None:
    await issue(world, "dns-cloudflare", [CLOUDFLARE_ZONE, f"www.{CLOUDFLARE_ZONE}"])

    def succeeded(verb: str) -> int:
        calls = world.cloudflare.requests.items()
        return sum(n for (method, _, status), n in calls if method == verb and status < 300)

    assert succeeded("POST") >= 2
    assert succeeded("DELETE") >= 2
    assert not [r for r in world.cloudflare.records(CLOUDFLARE_ZONE) if r.type == "CNAME"]


async def test_names_in_the_route53_emulator(world: DnsWorld) -> None:
    await issue(world, "dns-route53", [ROUTE53_ZONE, f"app.{ROUTE53_ZONE}"])

    assert world.route53.requests[("ChangeResourceRecordSets", 200)] >= 4  # upsert, delete
    (zone_id,) = world.route53.account.zones
    assert not [key for key in world.route53.rrsets(zone_id) if key[1] == "CNAME"]


# --- cleanup after failure and after deletion ----------------------------------------------------


async def test_records_are_removed_when_the_certificate_fails(world: DnsWorld) -> None:
    """The certificate is cancelled at ZeroSSL while it is being issued: the request fails and
    the record, still published until then, is removed."""
    stack, name = world.stack, "dns-cancelled"
    names = ["cancelled.example.com"]
    csr = make_csr(names)
    (record,) = record_names(csr, names)
    stack.emulator.faults.stuck_issuance = True
    try:
        await stack.cluster.create_certificate_request(NAMESPACE, name, csr, REF)
        held = await wait_for_certificate(stack, csr, status="pending_validation", held=True)
    finally:
        stack.emulator.faults.stuck_issuance = False
    assert await query_cname(world.bind9.host, world.bind9.port, record) is not None

    stack.emulator.cancel(held.id)
    failed = await stack.cluster.wait_for_request(
        NAMESPACE, name, status="False", reason="Failed", timeout=WAIT
    )
    assert "cancelled" in ready_condition(failed)["message"]
    await wait_records_gone(world, {record})


async def test_deleted_request_mid_validation_leaves_nothing_behind(world: DnsWorld) -> None:
    """A CAA record refusing sectigo.com keeps ZeroSSL from validating; the conditions say
    so. Deleting the request then cancels the draft and removes the DNSEndpoint, its record
    and the order."""
    stack, name = world.stack, "dns-caa"
    names = [f"caa.{EXTERNAL_DNS_ZONE}"]
    csr = make_csr(names)
    stack.emulator.forbid_caa(names[0])
    try:
        await stack.cluster.create_certificate_request(NAMESPACE, name, csr, REF)
        message = await wait_for_ready_message(stack, name, "sectigo.com")
        assert "CAA" in message
        order = await stack.kube.get(ISSUER_API_VERSION, "ZeroSSLOrder", name, NAMESPACE)
        assert order is not None
        (validation,) = order["status"]["validations"]
        assert "sectigo.com" in validation["lastError"]
        (draft,) = certificates_for(stack, csr)
        assert draft.status == "draft"
        records = record_names(csr, names)
        assert records <= world.published.ever

        await stack.kube.delete("cert-manager.io/v1", "CertificateRequest", name, NAMESPACE)
        await wait_gone(stack, ISSUER_API_VERSION, "ZeroSSLOrder", name, NAMESPACE)
    finally:
        stack.emulator.forbid_caa(names[0], forbidden=False)
    assert stack.emulator.certificate(draft.id).status == "cancelled"
    left = await stack.kube.list_objects(DNSENDPOINT_API_VERSION, "DNSEndpoint", NAMESPACE)
    assert not [o for o in left if o["metadata"]["name"].startswith(f"{name}-")]
    await wait_records_gone(world, records)


async def wait_for_ready_message(stack: Stack, name: str, text: str) -> str:
    """The request's Ready message once it contains ``text``."""
    last = ""

    async def probe() -> str | None:
        nonlocal last
        ready = find_condition(await stack.cluster.get_request(NAMESPACE, name), "Ready")
        last = str((ready or {}).get("message", ""))
        return last if text in last else None

    return await poll(probe, timeout=WAIT, describe=lambda: f"no {text!r} in {last!r}")


# --- wildcards: DNS or email only, and alone -----------------------------------------------------


async def test_wildcard_with_only_an_http_solver_waits_and_says_why(world: DnsWorld) -> None:
    csr = make_csr([f"*.{HTTP_ZONE}"])
    await world.stack.cluster.create_certificate_request(NAMESPACE, "dns-wild-http", csr, REF)
    message = await wait_for_ready_message(world.stack, "dns-wild-http", "needs a dns or email")
    assert f"*.{HTTP_ZONE}" in message
    assert not certificates_for(world.stack, csr)


async def test_wildcard_with_other_names_fails_and_says_why(world: DnsWorld) -> None:
    csr = make_csr(["*.alone.example.com", "alone.example.com"])
    await world.stack.cluster.create_certificate_request(NAMESPACE, "dns-wild-alone", csr, REF)
    failed = await world.stack.cluster.wait_for_request(
        NAMESPACE, "dns-wild-alone", status="False", reason="Failed", timeout=WAIT
    )
    assert "wildcard must be the only name" in ready_condition(failed)["message"]
    assert not certificates_for(world.stack, csr)
