"""The externalDNS provider through the real KubeClient against the emulated kube-apiserver,
with external-dns' DNSEndpoint CRD registered: schema-valid objects, updates, cleanup and
garbage collection with the owner."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from controller.issuer.solvers.dns import build_dns_provider
from controller.issuer.solvers.dns.externaldns import DNSENDPOINTS
from controller.kube.client import KubeClient
from controller.kube.errors import NotFound
from controller.kube.resource import Resource
from controller.sandbox.kube import KubeAPIServer
from tests.integration.issuer.solvers.dns.fakes import FakeSecrets
from tests.integration.issuer.solvers.dns.records import zerossl_record

pytestmark = pytest.mark.integration
CRD = Path(__file__).with_name("dnsendpoints.yaml")
# A stand-in owner: ownerReferences and garbage collection do not depend on the owner's kind.
CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap", namespaced=True)


@pytest.fixture
async def kube(tmp_path: Path) -> AsyncIterator[KubeClient]:
    async with KubeAPIServer(tls=False) as server:
        server.register_crds([CRD])
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
        async with await KubeClient.from_kubeconfig(str(kubeconfig)) as client:
            yield client


async def owner(kube: KubeClient) -> dict[str, Any]:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-tls-1"}}
    return await kube.create(CONFIGMAPS, body, "default")


async def test_dnsendpoints_are_written_updated_and_removed(kube: KubeClient) -> None:
    order = await owner(kube)
    dns = build_dns_provider(
        {"externalDNS": {"labels": {"dns": "public"}}},
        namespace="issuers",
        secrets=FakeSecrets(),
        owner=order,
        kube=kube,
        timeout=5.0,
    )
    record = zerossl_record()
    await dns.present(record)
    await dns.present(record)
    [obj] = (await kube.list(DNSENDPOINTS, "default"))["items"]
    assert obj["spec"]["endpoints"][0]["targets"] == [record.target.rstrip(".")]
    assert obj["metadata"]["ownerReferences"][0]["uid"] == order["metadata"]["uid"]
    version = obj["metadata"]["resourceVersion"]

    newer = type(record)(record.name, zerossl_record().target)
    await dns.present(newer)
    [obj] = (await kube.list(DNSENDPOINTS, "default"))["items"]
    assert obj["spec"]["endpoints"][0]["targets"] == [newer.target.rstrip(".")]
    assert obj["metadata"]["resourceVersion"] != version

    await dns.cleanup(newer)
    assert (await kube.list(DNSENDPOINTS, "default"))["items"] == []
    await dns.cleanup(newer)


async def test_deleting_the_owner_collects_its_dnsendpoints(kube: KubeClient) -> None:
    order = await owner(kube)
    dns = build_dns_provider(
        {"externalDNS": {}},
        namespace="n",
        secrets=FakeSecrets(),
        owner=order,
        kube=kube,
        timeout=5.0,
    )
    await dns.present(zerossl_record())
    await dns.present(zerossl_record("example.com"))
    assert len((await kube.list(DNSENDPOINTS, "default"))["items"]) == 2

    await kube.delete(CONFIGMAPS, "web-tls-1", "default")
    async with asyncio.timeout(5):
        while (await kube.list(DNSENDPOINTS, "default"))["items"]:
            await asyncio.sleep(0.02)
    with pytest.raises(NotFound):
        await kube.get(CONFIGMAPS, "web-tls-1", "default")
