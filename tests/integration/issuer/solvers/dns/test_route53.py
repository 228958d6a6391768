"""The route53 provider against the Route 53 emulator (SigV4 verified with botocore)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from controller.issuer.solvers.dns import (
    AuthenticationFailed,
    CNAMERecord,
    DNSProvider,
    InvalidSolverSpec,
    ProviderEndpoints,
    RateLimited,
    TransportError,
    UpdateRefused,
    ZoneNotFound,
    build_dns_provider,
)
from controller.issuer.solvers.dns.route53 import Route53Provider
from controller.issuer.solvers.dns.spec import Fields
from controller.sandbox.route53 import Route53Emulator
from tests.integration.issuer.solvers.dns.fakes import FakeSecrets
from tests.integration.issuer.solvers.dns.records import zerossl_record

pytestmark = pytest.mark.integration
KEY_ID, SECRET = "AKIAEMULATOR0000001", "emulated/secret+access/key0123456789abcd"


class Zones:
    def __init__(self, emulator: Route53Emulator) -> None:
        self.public = emulator.add_zone("example.com")
        self.private = emulator.add_zone("example.com", private=True)
        self.deep = emulator.add_zone("deep.example.com")
        self.other = emulator.add_zone("other.org")


@pytest.fixture
async def route53() -> AsyncIterator[Route53Emulator]:
    async with Route53Emulator(insync_delay=0.05) as emulator:
        emulator.add_credentials(KEY_ID, SECRET)
        yield emulator


@pytest.fixture
def zones(route53: Route53Emulator) -> Zones:
    return Zones(route53)


@pytest.fixture
def aws_keys(secrets: FakeSecrets) -> FakeSecrets:
    secrets.put("issuers", "aws", "id", KEY_ID)
    secrets.put("issuers", "aws", "secret", SECRET)
    return secrets


def provider(emulator: Route53Emulator, secrets: FakeSecrets, **spec: Any) -> DNSProvider:
    refs = {
        "accessKeyIDSecretRef": {"name": "aws", "key": "id"},
        "secretAccessKeySecretRef": {"name": "aws", "key": "secret"},
    }
    return build_dns_provider(
        {"route53": {**refs, **spec}},
        namespace="issuers",
        secrets=secrets,
        owner={},
        kube=None,
        timeout=2.0,
        endpoints=ProviderEndpoints(route53=emulator.url),
    )


def cname(emulator: Route53Emulator, zone: str, record: CNAMERecord) -> tuple[int, tuple[str, ...]]:
    rrset = emulator.rrsets(zone)[(record.name, "CNAME")]
    return rrset.ttl, rrset.values


async def test_present_upserts_waits_for_insync_and_cleanup_deletes(
    route53: Route53Emulator, zones: Zones, aws_keys: FakeSecrets
) -> None:
    dns = provider(route53, aws_keys)
    record = zerossl_record()

    await dns.present(record)
    await dns.present(record)
    assert cname(route53, zones.public, record) == (60, (record.target,))
    assert route53.requests[("GetChange", 200)] >= 2
    assert (record.name, "CNAME") not in route53.rrsets(zones.private)

    newer = CNAMERecord(record.name, zerossl_record().target)
    await dns.present(newer)
    assert cname(route53, zones.public, record) == (60, (newer.target,))

    await dns.cleanup(record)  # stale target: kept
    assert (record.name, "CNAME") in route53.rrsets(zones.public)
    await dns.cleanup(newer)
    await dns.cleanup(newer)
    assert (record.name, "CNAME") not in route53.rrsets(zones.public)


async def test_the_longest_public_zone_or_the_configured_id_is_used(
    route53: Route53Emulator, zones: Zones, aws_keys: FakeSecrets
) -> None:
    deep = zerossl_record("www.deep.example.com")
    await provider(route53, aws_keys).present(deep)
    assert (deep.name, "CNAME") in route53.rrsets(zones.deep)

    pinned = provider(route53, aws_keys, hostedZoneID=f"/hostedzone/{zones.private}")
    record = zerossl_record()
    await pinned.present(record)
    assert (record.name, "CNAME") in route53.rrsets(zones.private)

    with pytest.raises(ZoneNotFound, match="no public Route 53 hosted zone"):
        await provider(route53, aws_keys).present(zerossl_record("www.nowhere.net"))
    with pytest.raises(UpdateRefused, match=r"InvalidChangeBatch.*not permitted in zone"):
        await provider(route53, aws_keys, hostedZoneID=zones.other).present(zerossl_record())
    with pytest.raises(ZoneNotFound, match="NoSuchHostedZone"):
        await provider(route53, aws_keys, hostedZoneID="ZNOSUCHZONE").present(zerossl_record())


@pytest.mark.parametrize(
    ("key_id", "secret", "code"),
    [
        (KEY_ID, "not/the/right/secret/access/key/at/all", "SignatureDoesNotMatch"),
        ("AKIAUNKNOWN000000000", SECRET, "InvalidClientTokenId"),
    ],
)
async def test_bad_credentials_are_auth_failures_without_the_secret(
    route53: Route53Emulator,
    zones: Zones,
    secrets: FakeSecrets,
    key_id: str,
    secret: str,
    code: str,
) -> None:
    secrets.put("issuers", "aws", "id", key_id)
    secrets.put("issuers", "aws", "secret", secret)
    with pytest.raises(AuthenticationFailed, match=code) as caught:
        await provider(route53, secrets).present(zerossl_record())
    assert not caught.value.retryable
    assert secret not in str(caught.value)


async def test_throttling_is_retryable(aws_keys: FakeSecrets) -> None:
    async with Route53Emulator(rate=0.2, burst=2) as emulator:
        emulator.add_credentials(KEY_ID, SECRET)
        emulator.add_zone("example.com")
        with pytest.raises(RateLimited, match="400 Throttling: Rate exceeded") as caught:
            await provider(emulator, aws_keys).present(zerossl_record())
    assert caught.value.retryable
    assert caught.value.retry_after is None  # Route 53 sends no Retry-After


async def test_a_change_that_never_syncs_is_a_retryable_timeout(aws_keys: FakeSecrets) -> None:
    async with Route53Emulator(insync_delay=60) as emulator:
        emulator.add_credentials(KEY_ID, SECRET)
        zone = emulator.add_zone("example.com")
        dns = Route53Provider(
            hosted_zone_id=zone,
            access_key=None,
            secret_key=None,
            endpoint=emulator.url,
            signing_region="us-east-1",
            namespace="issuers",
            secrets=aws_keys,
            timeout=2.0,
            environ={"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET},
            insync_timeout=0.3,
        )
        with pytest.raises(TransportError, match=r"not INSYNC within 0\.3s") as caught:
            await dns.present(zerossl_record())
    assert caught.value.retryable


async def test_ambient_credentials_come_from_the_environment(
    route53: Route53Emulator, zones: Zones, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/secrets/token")
    ambient = build_dns_provider(
        {"route53": {}},
        namespace="issuers",
        secrets=FakeSecrets(),
        owner={},
        kube=None,
        timeout=2.0,
        endpoints=ProviderEndpoints(route53=route53.url),
    )
    with pytest.raises(InvalidSolverSpec, match="IRSA"):
        await ambient.present(zerossl_record())
    monkeypatch.delenv("AWS_WEB_IDENTITY_TOKEN_FILE")
    with pytest.raises(InvalidSolverSpec, match="no credentials"):
        await ambient.present(zerossl_record())

    route53.add_credentials("AKIASESSION000000001", SECRET, "session-token-value-123")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIASESSION000000001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-value-123")
    record = zerossl_record()
    await ambient.present(record)
    assert (record.name, "CNAME") in route53.rrsets(zones.public)


def test_partitions_pick_their_endpoint_and_signing_region() -> None:
    def built(region: str, endpoint: str = "https://route53.amazonaws.com") -> tuple[str, str]:
        provider = Route53Provider.from_spec(
            Fields({"region": region}, "dns.route53"),
            namespace="n",
            secrets=FakeSecrets(),
            timeout=1.0,
            endpoint=endpoint,
            environ={},
        )
        return provider._endpoint, provider._region

    assert built("eu-west-1") == ("https://route53.amazonaws.com", "us-east-1")
    assert built("cn-north-1") == ("https://route53.amazonaws.com.cn", "cn-northwest-1")
    assert built("us-gov-east-1") == ("https://route53.us-gov.amazonaws.com", "us-gov-west-1")
    assert built("cn-north-1", "http://127.0.0.1:1") == ("http://127.0.0.1:1", "cn-northwest-1")
    with pytest.raises(InvalidSolverSpec, match="go together"):
        Route53Provider.from_spec(
            Fields({"accessKeyIDSecretRef": {"name": "a", "key": "b"}}, "dns.route53"),
            namespace="n",
            secrets=FakeSecrets(),
            timeout=1.0,
            endpoint="x",
        )
