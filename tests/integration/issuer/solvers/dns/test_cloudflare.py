"""The cloudflare provider against the Cloudflare API emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from controller.issuer.solvers.dns import (
    AuthenticationFailed,
    DNSProvider,
    ProviderEndpoints,
    RateLimited,
    SecretUnavailable,
    TransportError,
    ZoneNotFound,
    build_dns_provider,
)
from controller.observability.redact import redact_text
from controller.sandbox.cloudflare import CloudflareEmulator
from tests.integration.issuer.solvers.dns.fakes import FakeSecrets
from tests.integration.issuer.solvers.dns.records import zerossl_record

pytestmark = pytest.mark.integration
TOKEN = "cf-token-0123456789abcdef0123456789abcdef"


@pytest.fixture
async def cloudflare() -> AsyncIterator[CloudflareEmulator]:
    async with CloudflareEmulator() as emulator:
        emulator.add_zone("example.com")
        emulator.add_zone("deep.example.com")
        emulator.add_zone("other.org")
        emulator.add_token(TOKEN)
        yield emulator


def provider(
    emulator: CloudflareEmulator,
    secrets: FakeSecrets,
    *,
    token: str = TOKEN,
    url: str | None = None,
    **spec: Any,
) -> DNSProvider:
    secrets.put("issuers", "cloudflare", "token", token)
    return build_dns_provider(
        {"cloudflare": {"apiTokenSecretRef": {"name": "cloudflare", "key": "token"}, **spec}},
        namespace="issuers",
        secrets=secrets,
        owner={},
        kube=None,
        timeout=2.0,
        endpoints=ProviderEndpoints(cloudflare=url or emulator.url),
    )


def cnames(emulator: CloudflareEmulator, zone: str) -> list[tuple[str, str, int]]:
    return [(r.name, r.content, r.ttl) for r in emulator.records(zone) if r.type == "CNAME"]


async def test_present_upserts_and_cleanup_removes(
    cloudflare: CloudflareEmulator, secrets: FakeSecrets
) -> None:
    dns = provider(cloudflare, secrets)
    record = zerossl_record()

    await dns.present(record)
    await dns.present(record)
    assert cnames(cloudflare, "example.com") == [
        (record.name.rstrip("."), record.target.rstrip("."), 60)
    ]
    assert cloudflare.requests[("POST", "/zones/{zone}/dns_records", 200)] == 1

    newer = type(record)(record.name, zerossl_record().target)
    await dns.present(newer)
    assert cnames(cloudflare, "example.com") == [
        (record.name.rstrip("."), newer.target.rstrip("."), 60)
    ]
    assert cloudflare.requests[("PUT", "/zones/{zone}/dns_records/{id}", 200)] == 1

    await dns.cleanup(record)  # a stale target: the newer record stays
    assert len(cnames(cloudflare, "example.com")) == 1
    await dns.cleanup(newer)
    await dns.cleanup(newer)
    assert cnames(cloudflare, "example.com") == []


async def test_the_longest_matching_zone_is_used(
    cloudflare: CloudflareEmulator, secrets: FakeSecrets
) -> None:
    dns = provider(cloudflare, secrets)
    record = zerossl_record("www.deep.example.com")
    await dns.present(record)
    assert len(cnames(cloudflare, "deep.example.com")) == 1
    assert cnames(cloudflare, "example.com") == []


async def test_zones_outside_the_token_or_the_spec_are_not_found(
    cloudflare: CloudflareEmulator, secrets: FakeSecrets
) -> None:
    cloudflare.add_token("scoped-token-value", zones={"other.org"})
    scoped = provider(cloudflare, secrets, token="scoped-token-value")
    with pytest.raises(ZoneNotFound, match="sees no zone") as caught:
        await scoped.present(zerossl_record())
    assert not caught.value.retryable

    pinned = provider(cloudflare, secrets, zone="other.org")
    with pytest.raises(ZoneNotFound, match=r"not in the configured zone other\.org\."):
        await pinned.present(zerossl_record())
    await pinned.present(zerossl_record("www.other.org"))
    assert len(cnames(cloudflare, "other.org")) == 1


async def test_a_bad_token_is_an_auth_failure_that_never_shows_the_token(
    cloudflare: CloudflareEmulator, secrets: FakeSecrets
) -> None:
    wrong = "wrong-token-4f1d2c3b4a5968778695a4b3c2d1e0f1"
    with pytest.raises(AuthenticationFailed, match="10000: Authentication error") as caught:
        await provider(cloudflare, secrets, token=wrong).present(zerossl_record())
    assert not caught.value.retryable
    assert wrong not in str(caught.value)
    assert redact_text(f"token is {wrong}") == "token is REDACTED"  # registered when read


async def test_rate_limiting_is_retryable_with_the_servers_hint(secrets: FakeSecrets) -> None:
    async with CloudflareEmulator(rate=0.5, burst=4) as emulator:
        emulator.add_zone("example.com")
        emulator.add_token(TOKEN)
        dns = provider(emulator, secrets)
        await dns.present(zerossl_record())  # two zone lookups, list, create: the burst
        with pytest.raises(RateLimited) as caught:
            await dns.present(zerossl_record())
    assert caught.value.retryable
    assert caught.value.retry_after == 2.0
    assert "971" in str(caught.value)


async def test_missing_secrets_and_unreachable_apis_are_reported(
    cloudflare: CloudflareEmulator, secrets: FakeSecrets
) -> None:
    dns = provider(cloudflare, secrets, url="http://127.0.0.1:9/client/v4")
    with pytest.raises(TransportError) as caught:
        await dns.present(zerossl_record())
    assert caught.value.retryable
    secrets.values.clear()
    with pytest.raises(SecretUnavailable):
        await dns.present(zerossl_record())
