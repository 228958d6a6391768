"""No secret leaks from a full end-to-end run: the ZeroSSL API key, every Secret value and the
controller's bearer token appear nowhere in what the real controller process emits.

The run: DEBUG JSON logs, spans exported by OTLP to a collector in the test, and a scrape of
``/metrics``; one certificate issued; an issuer whose Secret holds a key ZeroSSL refuses (with
a request against it); an issuer whose Cloudflare token the DNS API refuses (with a request
against it, so the token is sent and the refusal reported). The haystacks: the replica's stdout
and stderr, the scrape, the raw OTLP payloads, and every object the controller wrote (Events,
orders, the requests' and issuers' status). Each needle is looked for as is and base64-encoded
(as a Secret's ``data`` carries it).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping
from typing import Final

import orjson
import pytest

from controller.sandbox.cloudflare import CloudflareEmulator
from controller.sandbox.stack import ControllerOptions, Stack, find_condition, issuer_ref, make_csr
from controller.sandbox.stack.waiting import poll
from tests.e2e.conftest import StackFactory
from tests.e2e.support import E2E_NAMESPACE
from tests.e2e.support.issuance import events_about
from tests.e2e.support.obs_otlp import OTLPCollector

ZONE: Final = "leak.zerossl-issuer.dev"
API_KEY: Final = f"leak-api-key-{secrets.token_hex(12)}"
WRONG_KEY: Final = f"leak-wrong-key-{secrets.token_hex(12)}"
CLOUDFLARE_TOKEN: Final = f"leak-cf-token-{secrets.token_hex(12)}"
UNRELATED: Final = f"leak-unrelated-{secrets.token_hex(12)}"
WAIT: Final = 30.0
pytestmark = pytest.mark.timeout(120)


def api_key_ref(secret: str) -> dict[str, object]:
    return {"apiKeySecretRef": {"name": secret, "key": "api-key"}}


async def put_secret(stack: Stack, name: str, value: str, key: str = "api-key") -> None:
    await stack.cluster.create_api_key_secret(E2E_NAMESPACE, name, key=key, value=value)


async def exercise(stack: Stack, cloudflare: CloudflareEmulator) -> None:
    """An issuance that works and two that cannot (refused API key, refused DNS token)."""
    cluster = stack.cluster
    await put_secret(stack, "zerossl-api-key", API_KEY)
    await put_secret(stack, "wrong-key", WRONG_KEY)
    await put_secret(stack, "cloudflare", CLOUDFLARE_TOKEN, key="token")
    await put_secret(stack, "unrelated", UNRELATED)
    http = {**api_key_ref("zerossl-api-key"), "solvers": [{"http": {"none": {}}}]}
    wrong = {**api_key_ref("wrong-key"), "solvers": [{"http": {"none": {}}}]}
    token = {"apiTokenSecretRef": {"name": "cloudflare", "key": "token"}}
    dns = {**api_key_ref("zerossl-api-key"), "solvers": [{"dns": {"cloudflare": token}}]}
    for name, spec in (("http", http), ("wrong", wrong), ("dns", dns)):
        await cluster.create_issuer("ZeroSSLIssuer", name, E2E_NAMESPACE, spec)
        ref = issuer_ref("ZeroSSLIssuer", name)
        csr = make_csr([f"{name}.{ZONE}"])
        await cluster.create_certificate_request(E2E_NAMESPACE, name, csr, ref)

    await cluster.wait_for_request(E2E_NAMESPACE, "http", reason="Issued", timeout=WAIT)
    await cluster.wait_for_issuer("ZeroSSLIssuer", "wrong", E2E_NAMESPACE, status="False")

    async def refused() -> bool | None:
        statuses = [status for (_, _, status) in cloudflare.requests.elements()]
        events = await events_about(stack, "ZeroSSLOrder", "dns", E2E_NAMESPACE)
        warned = any(e.get("type") == "Warning" for e in events)
        return True if 403 in statuses and warned else None

    await poll(
        refused,
        timeout=WAIT,
        describe=lambda: f"Cloudflare never refused the token: {dict(cloudflare.requests)}",
    )
    request = await cluster.get_request(E2E_NAMESPACE, "wrong")
    assert (find_condition(request, "Ready") or {}).get("status") == "False", request


async def written_objects(stack: Stack) -> bytes:
    """Everything the controller wrote that a user can read: Events, orders, requests, issuers."""
    kube = stack.kube
    objects = [
        *await kube.list_objects("events.k8s.io/v1", "Event", E2E_NAMESPACE),
        *await kube.list_objects("zerossl.issuer.dev/v1alpha1", "ZeroSSLOrder", E2E_NAMESPACE),
        *await kube.list_objects("cert-manager.io/v1", "CertificateRequest", E2E_NAMESPACE),
        *await kube.list_objects("zerossl.issuer.dev/v1alpha1", "ZeroSSLIssuer", E2E_NAMESPACE),
    ]
    return orjson.dumps(objects)


def needles(stack: Stack) -> dict[str, str]:
    bearer = stack.access.token(stack.controller_user)
    plain = {
        "the ZeroSSL API key": API_KEY,
        "the refused API key": WRONG_KEY,
        "the Cloudflare token": CLOUDFLARE_TOKEN,
        "an unreferenced Secret value": UNRELATED,
        "the controller's bearer token": bearer,
    }
    encoded = {
        f"{what} (base64)": base64.b64encode(v.encode()).decode() for what, v in plain.items()
    }
    return {**plain, **encoded}


def leaks(haystacks: Mapping[str, bytes], found: Mapping[str, str]) -> list[str]:
    return [
        f"{what} in {where}"
        for where, text in haystacks.items()
        for what, needle in found.items()
        if needle.encode() in text
    ]


async def test_no_secret_in_logs_metrics_traces_or_objects(stack_factory: StackFactory) -> None:
    async with OTLPCollector() as collector, CloudflareEmulator() as cloudflare:
        cloudflare.add_zone(ZONE)  # the token is never added: every call is refused
        env = {**collector.environment(), "ZEROSSL_ISSUER_CLOUDFLARE_API_URL": cloudflare.url}
        controller = ControllerOptions(log_level="debug")
        async with stack_factory(
            replicas=1, api_key=API_KEY, controller=controller, controller_env=env
        ) as stack:
            replica = stack.replicas[0]
            await exercise(stack, cloudflare)
            scrape = (await replica.scrape_metrics()).text.encode()
            objects = await written_objects(stack)
            assert await replica.terminate() == 0  # flushes the last spans
            logs = replica.stdout_path.read_bytes() + replica.stderr_path.read_bytes()
            found = needles(stack)

    # The haystacks are the real thing: debug logs with the redacted key, spans of every path.
    assert b'"level":"debug"' in logs
    assert b"access_key=REDACTED" in logs
    names = {span.name for span in collector.spans}
    assert {"zerossl.create", "zerossl.verify", "dns.present", "reconcile.issuer"} <= names
    assert b"zerossl_issuer_zerossl_requests_total" in scrape

    haystacks = {
        "the replica's stdout/stderr": logs,
        "the /metrics scrape": scrape,
        "the OTLP payloads": collector.raw,
        "the objects the controller wrote": objects,
    }
    assert leaks(haystacks, found) == []
