"""wait_visible against the real BIND9: visible, late, wrong, absent, unreachable."""

from __future__ import annotations

import asyncio

import dns.asyncresolver
import pytest

from controller.issuer.solvers.dns import (
    CNAMERecord,
    DNSProvider,
    PropagationTimeout,
    build_dns_provider,
    propagation,
    resolvers,
    wait_visible,
)
from controller.observability.metrics import solver_operations
from tests.integration.issuer.solvers.dns.fakes import FakeSecrets
from tests.integration.issuer.solvers.dns.records import zerossl_record
from tests.support.bind9 import Bind9

pytestmark = pytest.mark.integration


@pytest.fixture
def dns_provider(bind9: Bind9, secrets: FakeSecrets) -> DNSProvider:
    key = bind9.keys["HMACSHA256"]
    secrets.put("ns", "tsig", "secret", key.secret)
    spec = {
        "rfc2136": {
            "nameserver": bind9.address,
            "tsigKeyName": key.name,
            "tsigSecretRef": {"name": "tsig", "key": "secret"},
        }
    }
    return build_dns_provider(
        spec, namespace="ns", secrets=secrets, owner={}, kube=None, timeout=3.0
    )


async def test_a_published_record_is_visible_at_once(
    bind9: Bind9, dns_provider: DNSProvider
) -> None:
    record = zerossl_record()
    await dns_provider.present(record)
    ok = solver_operations.labels("rfc2136", "wait", "ok")._value.get()

    await wait_visible(
        record, [bind9.address, bind9.address], timeout=0, interval=1, solver="rfc2136"
    )

    assert solver_operations.labels("rfc2136", "wait", "ok")._value.get() == ok + 1
    await dns_provider.cleanup(record)


async def test_waiting_ends_when_the_record_appears(
    bind9: Bind9, dns_provider: DNSProvider
) -> None:
    record = zerossl_record()

    async def publish_later() -> None:
        await asyncio.sleep(0.3)
        await dns_provider.present(record)

    async with asyncio.TaskGroup() as group:
        group.create_task(publish_later())
        waiting = group.create_task(
            wait_visible(record, [bind9.address], timeout=10, interval=0.05)
        )
    assert waiting.done()
    await dns_provider.cleanup(record)


async def test_an_absent_record_times_out_saying_what_was_seen(bind9: Bind9) -> None:
    record = zerossl_record()
    timeouts = solver_operations.labels("dns", "wait", "timeout")._value.get()

    with pytest.raises(PropagationTimeout) as caught:
        await wait_visible(record, [bind9.address], timeout=0.2, interval=0.05)

    assert caught.value.retryable
    assert caught.value.seen == {bind9.address: "NXDOMAIN"}
    assert f"{bind9.address} answered NXDOMAIN" in str(caught.value)
    assert solver_operations.labels("dns", "wait", "timeout")._value.get() == timeouts + 1


async def test_a_wrong_target_is_not_visible(bind9: Bind9, dns_provider: DNSProvider) -> None:
    published = zerossl_record()
    await dns_provider.present(published)
    expected = CNAMERecord(published.name, zerossl_record().target)

    with pytest.raises(PropagationTimeout) as caught:
        await wait_visible(expected, [bind9.address], timeout=0.1, interval=0.05)

    assert caught.value.seen == {bind9.address: f"CNAME {published.target}"}
    await dns_provider.cleanup(published)


async def test_an_unreachable_resolver_is_named_in_the_timeout(bind9: Bind9) -> None:
    record = zerossl_record()
    with pytest.raises(PropagationTimeout) as caught:
        await wait_visible(record, ["127.0.0.1:9", bind9.address], timeout=0, interval=1)
    assert set(caught.value.seen) == {"127.0.0.1:9", bind9.address}
    assert caught.value.seen["127.0.0.1:9"].startswith("nothing (")


async def test_no_resolvers_means_the_system_resolver(
    bind9: Bind9, dns_provider: DNSProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [bind9.host]
    resolver.port = bind9.port
    monkeypatch.setattr(resolvers, "system_resolver", lambda: resolver)
    record = zerossl_record()

    with pytest.raises(PropagationTimeout) as caught:
        await wait_visible(record, [], timeout=0, interval=1)
    assert caught.value.seen == {propagation.SYSTEM_RESOLVER: "NXDOMAIN"}

    await dns_provider.present(record)
    await wait_visible(record, [], timeout=0, interval=1)
    await dns_provider.cleanup(record)


def test_propagation_settings_come_from_the_spec_or_the_defaults() -> None:
    defaults = {"default_timeout": 300.0, "default_resolvers": ("10.0.0.1:53",)}
    assert propagation.Propagation.from_spec({"rfc2136": {}}, **defaults) == (
        propagation.Propagation(300.0, ("10.0.0.1:53",))
    )
    spec = {"propagation": {"timeoutSeconds": 0, "nameservers": ["1.1.1.1", "[::1]:5353"]}}
    assert propagation.Propagation.from_spec(spec, **defaults) == propagation.Propagation(
        0.0, ("1.1.1.1", "[::1]:5353")
    )
    for bad in ({"timeoutSeconds": -1}, {"timeoutSeconds": "5"}, {"nameservers": "1.1.1.1"}):
        with pytest.raises(propagation.InvalidSolverSpec, match=r"dns\.propagation\."):
            propagation.Propagation.from_spec({"propagation": bad}, **defaults)
