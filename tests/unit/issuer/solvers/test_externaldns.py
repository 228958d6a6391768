"""The externalDNS provider against an in-memory ObjectWriter: shape, idempotency, errors."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import pytest

from controller.issuer.solvers.dns import (
    DNSProvider,
    DNSProviderError,
    InvalidSolverSpec,
    RateLimited,
    TransportError,
    UpdateRefused,
    build_dns_provider,
)
from controller.issuer.solvers.dns.externaldns import DNSENDPOINTS, ExternalDNSProvider
from controller.kube.errors import ApiError
from controller.kube.resource import Resource
from tests.integration.issuer.solvers.dns.fakes import FakeSecrets
from tests.integration.issuer.solvers.dns.records import zerossl_record

ORDER = {
    "apiVersion": "zerossl.issuer.dev/v1alpha1",
    "kind": "ZeroSSLOrder",
    "metadata": {"name": "web-tls-1", "namespace": "apps", "uid": "0b1c-uid"},
}


@dataclass
class FakeWriter:
    """Objects by (namespace, name); ``fail[verb]`` makes that verb raise."""

    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    fail: dict[str, ApiError] = field(default_factory=dict)
    version: int = 0

    def _check(self, verb: str, res: Resource) -> None:
        assert res == DNSENDPOINTS
        self.calls.append(verb)
        if verb in self.fail:
            raise self.fail[verb]

    def _store(self, body: dict[str, Any], namespace: str) -> dict[str, Any]:
        self.version += 1
        stored = copy.deepcopy(body)
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.objects[(namespace, body["metadata"]["name"])] = stored
        return copy.deepcopy(stored)

    async def create(
        self, res: Resource, body: dict[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        self._check("create", res)
        assert namespace is not None
        if (namespace, body["metadata"]["name"]) in self.objects:
            raise ApiError.from_status(409, {"reason": "AlreadyExists"})
        return self._store(body, namespace)

    async def get(self, res: Resource, name: str, namespace: str | None = None) -> dict[str, Any]:
        self._check("get", res)
        assert namespace is not None
        if (namespace, name) not in self.objects:
            raise ApiError.from_status(404, {"reason": "NotFound"})
        return copy.deepcopy(self.objects[(namespace, name)])

    async def replace(
        self,
        res: Resource,
        body: dict[str, Any],
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        self._check("replace", res)
        assert namespace is not None
        current = self.objects[(namespace, body["metadata"]["name"])]
        assert body["metadata"]["resourceVersion"] == current["metadata"]["resourceVersion"]
        return self._store(body, namespace)

    async def delete(
        self, res: Resource, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        self._check("delete", res)
        assert namespace is not None
        if self.objects.pop((namespace, name), None) is None:
            raise ApiError.from_status(404, {"reason": "NotFound"})
        return None


def provider(writer: FakeWriter, **spec: Any) -> DNSProvider:
    return build_dns_provider(
        {"externalDNS": spec},
        namespace="issuers",
        secrets=FakeSecrets(),
        owner=ORDER,
        kube=writer,
        timeout=1.0,
    )


async def test_present_creates_an_owned_dnsendpoint_without_trailing_dots() -> None:
    writer = FakeWriter()
    record = zerossl_record()
    await provider(writer, labels={"external-dns": "public"}, annotations={"a": "b"}).present(
        record
    )

    [((namespace, name), obj)] = writer.objects.items()
    assert namespace == "apps"
    assert name.startswith("web-tls-1-")
    assert obj["apiVersion"] == "externaldns.k8s.io/v1alpha1"
    assert obj["kind"] == "DNSEndpoint"
    assert obj["spec"] == {
        "endpoints": [
            {
                "dnsName": record.name[:-1],
                "recordType": "CNAME",
                "recordTTL": 60,
                "targets": [record.target[:-1]],
            }
        ]
    }
    assert obj["metadata"]["labels"] == {
        "external-dns": "public",
        "app.kubernetes.io/managed-by": "zerossl-issuer",
    }
    assert obj["metadata"]["annotations"] == {"a": "b", "zerossl.issuer.dev/record": record.name}
    assert obj["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "zerossl.issuer.dev/v1alpha1",
            "kind": "ZeroSSLOrder",
            "name": "web-tls-1",
            "uid": "0b1c-uid",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


async def test_present_is_idempotent_and_updates_a_changed_target() -> None:
    writer = FakeWriter()
    dns = provider(writer)
    record = zerossl_record()
    await dns.present(record)
    await dns.present(record)
    assert writer.calls == ["create", "create", "get"]

    newer = type(record)(record.name, zerossl_record().target)
    await dns.present(newer)
    assert writer.calls[-1] == "replace"
    [obj] = writer.objects.values()
    assert obj["spec"]["endpoints"][0]["targets"] == [newer.target[:-1]]


async def test_cleanup_deletes_only_its_own_target_and_tolerates_absence() -> None:
    writer = FakeWriter()
    dns = provider(writer)
    old = zerossl_record()
    new = type(old)(old.name, zerossl_record().target)
    await dns.present(new)

    await dns.cleanup(old)
    assert len(writer.objects) == 1
    await dns.cleanup(new)
    assert writer.objects == {}
    await dns.cleanup(new)


async def test_another_namespace_gets_no_owner_reference() -> None:
    writer = FakeWriter()
    await provider(writer, namespace="external-dns").present(zerossl_record())
    [((namespace, _), obj)] = writer.objects.items()
    assert namespace == "external-dns"
    assert "ownerReferences" not in obj["metadata"]


def test_object_names_are_valid_and_distinct_per_record() -> None:
    long_owner = {**ORDER, "metadata": {**ORDER["metadata"], "name": "a" * 199 + ".b" * 20}}
    dns = ExternalDNSProvider(FakeWriter(), long_owner, namespace=None, labels={}, annotations={})
    first, second = zerossl_record(), zerossl_record()
    name = dns.object_name(first)
    assert len(name) <= 253
    assert ".-" not in name
    assert name != dns.object_name(second)
    assert name == dns.object_name(first)


@pytest.mark.parametrize(
    ("verb", "status", "error", "message"),
    [
        ("create", 403, UpdateRefused, "grant it dnsendpoints in RBAC"),
        ("create", 404, DNSProviderError, "DNSEndpoint API"),
        ("create", 422, InvalidSolverSpec, "rejected"),
        ("create", 500, TransportError, "could not create"),
        ("replace", 409, TransportError, "could not update"),
        ("delete", 503, TransportError, "could not delete"),
    ],
)
async def test_api_errors_are_classified(
    verb: str, status: int, error: type[DNSProviderError], message: str
) -> None:
    writer = FakeWriter()
    dns = provider(writer)
    record = zerossl_record()
    if verb != "create":
        await dns.present(record)
    if verb == "replace":
        record = type(record)(record.name, zerossl_record().target)
    writer.fail[verb] = ApiError.from_status(status, {"message": "nope"})

    with pytest.raises(error, match=message) as caught:
        await (dns.cleanup(record) if verb == "delete" else dns.present(record))
    assert caught.value.retryable == (status >= 409 and status != 422)


async def test_api_throttling_is_rate_limited_with_the_hint() -> None:
    writer = FakeWriter(fail={"create": ApiError.from_status(429, {}, retry_after=7.0)})
    with pytest.raises(RateLimited) as caught:
        await provider(writer).present(zerossl_record())
    assert caught.value.retry_after == 7.0
    assert caught.value.retryable


def test_externaldns_needs_a_client_and_a_complete_owner() -> None:
    with pytest.raises(ValueError, match="Kubernetes client"):
        build_dns_provider(
            {"externalDNS": {}},
            namespace="n",
            secrets=FakeSecrets(),
            owner=ORDER,
            kube=None,
            timeout=1.0,
        )
    with pytest.raises(ValueError, match="uid"):
        build_dns_provider(
            {"externalDNS": {}},
            namespace="n",
            secrets=FakeSecrets(),
            owner={**ORDER, "metadata": {"name": "x", "namespace": "y"}},
            kube=FakeWriter(),
            timeout=1.0,
        )
    with pytest.raises(InvalidSolverSpec, match=r"dns\.externalDNS\.labels"):
        provider(FakeWriter(), labels={"a": 1})
