"""The rfc2136 provider against a real BIND9: updates, TSIG, refusals, SOA discovery."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from controller.issuer.solvers.dns import (
    AuthenticationFailed,
    DNSProvider,
    InvalidSolverSpec,
    SecretUnavailable,
    TransportError,
    UpdateRefused,
    ZoneNotFound,
    build_dns_provider,
)
from controller.issuer.solvers.dns.nameserver import Nameserver
from controller.issuer.solvers.dns.zones import find_zone
from controller.observability.metrics import solver_operations
from tests.integration.issuer.solvers.dns.fakes import FakeSecrets
from tests.integration.issuer.solvers.dns.records import zerossl_record
from tests.support.bind9 import LOCKED_ZONE, Bind9

pytestmark = pytest.mark.integration
NAMESPACE = "issuers"


def provider(
    bind9: Bind9,
    secrets: FakeSecrets,
    *,
    algorithm: str = "HMACSHA256",
    secret: str | None = None,
    key_name: str | None = None,
    signed: bool = True,
    timeout: float = 3.0,
    **extra: Any,
) -> DNSProvider:
    key = bind9.keys[algorithm]
    spec: dict[str, Any] = {"nameserver": bind9.address, **extra}
    if signed:
        secrets.put(NAMESPACE, "tsig", "secret", key.secret if secret is None else secret)
        spec |= {
            "tsigKeyName": key.name if key_name is None else key_name,
            "tsigAlgorithm": algorithm,
            "tsigSecretRef": {"name": "tsig", "key": "secret"},
        }
    return build_dns_provider(
        {"rfc2136": spec},
        namespace=NAMESPACE,
        secrets=secrets,
        owner={},
        kube=None,
        timeout=timeout,
    )


def count(operation: str, outcome: str) -> float:
    value = solver_operations.labels("rfc2136", operation, outcome)._value.get()
    return float(value)


async def test_present_publishes_an_absolute_target_and_cleanup_removes_it(
    bind9: Bind9, secrets: FakeSecrets
) -> None:
    dns = provider(bind9, secrets)
    record = zerossl_record()
    ok_before = count("present", "ok")

    await dns.present(record)

    assert bind9.cname(record.name) == record.target  # absolute: no zone appended
    assert count("present", "ok") == ok_before + 1
    await dns.cleanup(record)
    assert bind9.cname(record.name) is None


async def test_present_and_cleanup_are_idempotent(bind9: Bind9, secrets: FakeSecrets) -> None:
    dns = provider(bind9, secrets)
    record = zerossl_record()
    await dns.present(record)
    await dns.present(record)
    answer = bind9.query(record.name)
    assert [len(rrset) for rrset in answer.answer] == [1]

    await dns.cleanup(record)
    await dns.cleanup(record)
    assert bind9.cname(record.name) is None


async def test_present_replaces_an_older_target_and_cleanup_keeps_a_newer_one(
    bind9: Bind9, secrets: FakeSecrets
) -> None:
    dns = provider(bind9, secrets)
    old = zerossl_record()
    new = type(old)(old.name, zerossl_record().target)
    await dns.present(old)
    await dns.present(new)
    assert bind9.cname(old.name) == new.target

    await dns.cleanup(old)  # a stale order's cleanup must not remove the new order's record
    assert bind9.cname(old.name) == new.target
    await dns.cleanup(new)
    assert bind9.cname(old.name) is None


@pytest.mark.parametrize("algorithm", ["HMACMD5", "HMACSHA1", "HMACSHA256", "HMACSHA512"])
async def test_every_tsig_algorithm_of_the_crd_works(
    bind9: Bind9, secrets: FakeSecrets, algorithm: str
) -> None:
    dns = provider(bind9, secrets, algorithm=algorithm)
    record = zerossl_record()
    await dns.present(record)
    assert bind9.cname(record.name) == record.target
    await dns.cleanup(record)


async def test_a_wrong_tsig_secret_is_an_auth_failure_without_the_secret(
    bind9: Bind9, secrets: FakeSecrets
) -> None:
    wrong = base64.b64encode(b"not the key that named knows!!").decode()
    dns = provider(bind9, secrets, secret=wrong)
    failures = count("present", "auth_failed")

    with pytest.raises(AuthenticationFailed) as caught:
        await dns.present(zerossl_record())

    assert not caught.value.retryable
    assert "BADSIG" in str(caught.value)
    assert wrong not in str(caught.value)
    assert count("present", "auth_failed") == failures + 1


async def test_an_unknown_tsig_key_name_is_an_auth_failure(
    bind9: Bind9, secrets: FakeSecrets
) -> None:
    dns = provider(bind9, secrets, key_name="nobody-knows-me.")
    with pytest.raises(AuthenticationFailed, match="BADKEY"):
        await dns.present(zerossl_record())


async def test_a_zone_that_refuses_updates_is_a_clear_non_retryable_error(
    bind9: Bind9, secrets: FakeSecrets
) -> None:
    dns = provider(bind9, secrets)
    with pytest.raises(UpdateRefused) as caught:
        await dns.present(zerossl_record(f"www.{LOCKED_ZONE}"))
    assert not caught.value.retryable
    assert f"zone {LOCKED_ZONE}." in str(caught.value)
    assert "update-policy" in str(caught.value)


async def test_an_unsigned_update_is_refused_by_the_update_policy(
    bind9: Bind9, secrets: FakeSecrets
) -> None:
    dns = provider(bind9, secrets, signed=False)
    with pytest.raises(UpdateRefused, match=r"zone example\.com\. \(REFUSED\)"):
        await dns.present(zerossl_record())


async def test_the_zone_is_discovered_by_soa_lookup(bind9: Bind9, secrets: FakeSecrets) -> None:
    record = zerossl_record("a.b.sub.example.com")
    server = Nameserver.parse(bind9.address)
    assert await find_zone(record.name, server, timeout=2.0) == "sub.example.com."
    assert await find_zone("_x.www.example.com.", server, timeout=2.0) == "example.com."

    dns = provider(bind9, secrets)
    await dns.present(record)
    assert bind9.cname(record.name) == record.target
    await dns.cleanup(record)
    assert bind9.cname(record.name) is None

    # Why discovery matters: BIND accepts the record into the parent zone below the delegation,
    # where nobody will ever see it.
    parent = provider(bind9, secrets, zone="example.com")
    await parent.present(record)
    assert bind9.cname(record.name) is None
    await parent.cleanup(record)


async def test_a_name_in_no_zone_of_the_server_is_zone_not_found(
    bind9: Bind9, secrets: FakeSecrets
) -> None:
    dns = provider(bind9, secrets)
    with pytest.raises(ZoneNotFound, match="serves no zone containing"):
        await dns.present(zerossl_record("www.elsewhere.org"))


async def test_a_configured_zone_must_contain_the_record(
    bind9: Bind9, secrets: FakeSecrets
) -> None:
    dns = provider(bind9, secrets, zone="example.com")
    record = zerossl_record()
    await dns.present(record)
    assert bind9.cname(record.name) == record.target
    await dns.cleanup(record)
    with pytest.raises(ZoneNotFound, match=r"not in the configured zone example\.com\."):
        await dns.present(zerossl_record("www.example.org"))


async def test_an_unreachable_nameserver_is_retryable(secrets: FakeSecrets) -> None:
    dns = build_dns_provider(
        {"rfc2136": {"nameserver": "127.0.0.1:9", "zone": "example.com"}},
        namespace=NAMESPACE,
        secrets=secrets,
        owner={},
        kube=None,
        timeout=0.5,
    )
    with pytest.raises(TransportError) as caught:
        await dns.present(zerossl_record())
    assert caught.value.retryable


async def test_a_missing_secret_and_a_malformed_secret_are_reported(
    bind9: Bind9, secrets: FakeSecrets
) -> None:
    dns = provider(bind9, secrets, secret="*** not base64 ***")
    with pytest.raises(InvalidSolverSpec, match="Secret issuers/tsig key 'secret'"):
        await dns.present(zerossl_record())
    secrets.values.clear()
    with pytest.raises(SecretUnavailable):
        await dns.present(zerossl_record())
