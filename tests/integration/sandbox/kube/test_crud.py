"""CRUD, resourceVersion, optimistic concurrency, paging, selectors, patches (built-ins)."""

from __future__ import annotations

import asyncio
import base64

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from controller.sandbox.kube import KubeAPIServer

from .conftest import Raw, secret, started

SECRETS = "/api/v1/namespaces/default/secrets"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"


async def test_crud_through_kubernetes_asyncio(kube: client.ApiClient) -> None:
    core = client.CoreV1Api(kube)
    body = client.V1Secret(metadata=client.V1ObjectMeta(name="s1"), string_data={"k": "v"})
    created = await core.create_namespaced_secret("default", body)
    assert created.data == {"k": base64.b64encode(b"v").decode()}
    assert created.metadata.uid
    assert created.metadata.creation_timestamp
    read = await core.read_namespaced_secret("s1", "default")
    assert read.metadata.resource_version == created.metadata.resource_version
    listed = await core.list_namespaced_secret("default")
    assert [s.metadata.name for s in listed.items] == ["s1"]
    await core.delete_namespaced_secret("s1", "default")
    with pytest.raises(ApiException) as info:
        await core.read_namespaced_secret("s1", "default")
    assert info.value.status == 404


async def test_resource_version_is_one_global_counter(raw: Raw) -> None:
    _, first = await raw.call("POST", SECRETS, secret("a"))
    _, second = await raw.call("POST", CONFIGMAPS, {"metadata": {"name": "b"}})
    assert (
        int(second["metadata"]["resourceVersion"]) == int(first["metadata"]["resourceVersion"]) + 1
    )
    _, listed = await raw.call("GET", SECRETS)
    assert listed["metadata"]["resourceVersion"] == second["metadata"]["resourceVersion"]


async def test_noop_write_keeps_rv_and_emits_no_event(raw: Raw) -> None:
    _, created = await raw.call("POST", SECRETS, secret("a", stringData={"k": "v"}))
    rv = created["metadata"]["resourceVersion"]
    watching = asyncio.create_task(
        raw.watch(SECRETS, {"resourceVersion": rv, "timeoutSeconds": "1"})
    )
    await asyncio.sleep(0.1)
    status, same = await raw.call("PUT", f"{SECRETS}/a", created)
    assert status == 200
    assert same["metadata"]["resourceVersion"] == rv
    status, patched = await raw.call(
        "PATCH",
        f"{SECRETS}/a",
        {"data": created["data"]},
        content_type="application/merge-patch+json",
    )
    assert patched["metadata"]["resourceVersion"] == rv
    assert await watching == []


async def test_put_with_stale_resource_version_conflicts(raw: Raw) -> None:
    _, created = await raw.call("POST", SECRETS, secret("a"))
    status, updated = await raw.call(
        "PUT", f"{SECRETS}/a", {**created, "type": "Opaque", "data": {"x": "eA=="}}
    )
    assert status == 200
    status, body = await raw.call("PUT", f"{SECRETS}/a", {**created, "data": {"y": "eQ=="}})
    assert status == 409
    assert body["reason"] == "Conflict"
    assert "the object has been modified" in body["message"]
    unconditional = {**updated, "metadata": {"name": "a"}, "data": {"z": "eg=="}}
    status, _ = await raw.call("PUT", f"{SECRETS}/a", unconditional)
    assert status == 200, "core kinds allow unconditional updates"


async def test_lease_put_needs_rv_and_may_create(raw: Raw) -> None:
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "leader"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15},
    }
    status, created = await raw.call("PUT", f"{LEASES}/leader", lease)
    assert status == 201
    assert created["spec"]["holderIdentity"] == "a"
    status, body = await raw.call("PUT", f"{LEASES}/leader", lease)
    assert status == 422
    assert body["details"]["causes"][0]["field"] == "metadata.resourceVersion"
    taken = {**created, "spec": {**created["spec"], "holderIdentity": "b"}}
    status, current = await raw.call("PUT", f"{LEASES}/leader", taken)
    assert status == 200
    status, _ = await raw.call("PUT", f"{LEASES}/leader", taken)
    assert status == 409
    status, body = await raw.call(
        "PUT",
        f"{LEASES}/leader",
        {**current, "spec": {"renewTime": "yesterday", "leaseDurationSeconds": 0}},
    )
    assert status == 422
    fields = {c["field"] for c in body["details"]["causes"]}
    assert fields == {"spec.renewTime", "spec.leaseDurationSeconds"}


async def test_paged_list_is_a_consistent_snapshot(raw: Raw) -> None:
    for i in range(25):
        await raw.call("POST", CONFIGMAPS, {"metadata": {"name": f"cm-{i:02d}"}})
    _, page = await raw.call("GET", CONFIGMAPS, params={"limit": "10"})
    rv = page["metadata"]["resourceVersion"]
    assert len(page["items"]) == 10
    assert page["metadata"]["remainingItemCount"] == 15
    await raw.call("POST", CONFIGMAPS, {"metadata": {"name": "cm-99"}})
    await raw.call("DELETE", f"{CONFIGMAPS}/cm-20")
    names = [i["metadata"]["name"] for i in page["items"]]
    token = page["metadata"]["continue"]
    while token:
        status, page = await raw.call("GET", CONFIGMAPS, params={"limit": "10", "continue": token})
        assert status == 200
        assert page["metadata"]["resourceVersion"] == rv
        names += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue")
    assert names == [f"cm-{i:02d}" for i in range(25)]


async def test_continue_token_expires_after_compaction(api: KubeAPIServer, raw: Raw) -> None:
    for i in range(3):
        await raw.call("POST", CONFIGMAPS, {"metadata": {"name": f"cm-{i}"}})
    _, page = await raw.call("GET", CONFIGMAPS, params={"limit": "1"})
    api.faults.compact()
    status, body = await raw.call(
        "GET", CONFIGMAPS, params={"limit": "1", "continue": page["metadata"]["continue"]}
    )
    assert status == 410
    assert body["reason"] == "Expired"


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", ["a", "b"]),
        ("app==web,tier!=db", ["a"]),
        ("app in (web,api)", ["a", "b", "c"]),
        ("tier notin (db)", ["a", "c", "d"]),
        ("tier", ["b"]),
        ("!tier", ["a", "c", "d"]),
    ],
)
async def test_label_selectors(raw: Raw, selector: str, expected: list[str]) -> None:
    labels = {"a": {"app": "web"}, "b": {"app": "web", "tier": "db"}, "c": {"app": "api"}, "d": {}}
    for name, lab in labels.items():
        await raw.call("POST", CONFIGMAPS, {"metadata": {"name": name, "labels": lab}})
    status, listed = await raw.call("GET", CONFIGMAPS, params={"labelSelector": selector})
    assert status == 200
    assert [i["metadata"]["name"] for i in listed["items"]] == expected


async def test_field_selectors(raw: Raw) -> None:
    for name in ("a", "b"):
        await raw.call("POST", SECRETS, secret(name, type="Opaque"))
    _, listed = await raw.call(
        "GET", "/api/v1/secrets", params={"fieldSelector": "metadata.name=b,type=Opaque"}
    )
    assert [i["metadata"]["name"] for i in listed["items"]] == ["b"]
    _, listed = await raw.call("GET", SECRETS, params={"fieldSelector": "metadata.name!=b"})
    assert [i["metadata"]["name"] for i in listed["items"]] == ["a"]
    status, body = await raw.call("GET", SECRETS, params={"fieldSelector": "spec.x=1"})
    assert status == 400
    assert "field label not supported: spec.x" in body["message"]


async def test_json_merge_and_strategic_patches(raw: Raw) -> None:
    await raw.call(
        "POST",
        CONFIGMAPS,
        {
            "metadata": {"name": "c", "labels": {"a": "1"}, "finalizers": ["x/one"]},
            "data": {"k": "v", "drop": "me"},
        },
    )
    status, body = await raw.call(
        "PATCH",
        f"{CONFIGMAPS}/c",
        [
            {"op": "test", "path": "/data/k", "value": "v"},
            {"op": "replace", "path": "/data/k", "value": "w"},
        ],
        content_type="application/json-patch+json",
    )
    assert status == 200
    assert body["data"]["k"] == "w"
    status, body = await raw.call(
        "PATCH",
        f"{CONFIGMAPS}/c",
        [{"op": "test", "path": "/data/k", "value": "nope"}],
        content_type="application/json-patch+json",
    )
    assert status == 422
    status, body = await raw.call(
        "PATCH",
        f"{CONFIGMAPS}/c",
        {"data": {"drop": None}},
        content_type="application/merge-patch+json",
    )
    assert body["data"] == {"k": "w"}
    status, body = await raw.call(
        "PATCH",
        f"{CONFIGMAPS}/c",
        {
            "metadata": {
                "finalizers": ["x/two"],
                "$setElementOrder/finalizers": ["x/one", "x/two"],
                "labels": {"a": None, "b": "2"},
            }
        },
        content_type="application/strategic-merge-patch+json",
    )
    assert status == 200
    assert body["metadata"]["finalizers"] == ["x/one", "x/two"]
    assert body["metadata"]["labels"] == {"b": "2"}
    status, _ = await raw.call(
        "PATCH", f"{CONFIGMAPS}/c", {"data": {}}, content_type="application/xml"
    )
    assert status == 415


async def test_patch_with_stale_resource_version_conflicts(raw: Raw) -> None:
    await raw.call("POST", CONFIGMAPS, {"metadata": {"name": "c"}})
    status, _ = await raw.call(
        "PATCH",
        f"{CONFIGMAPS}/c",
        {"metadata": {"resourceVersion": "1"}, "data": {"a": "b"}},
        content_type="application/merge-patch+json",
    )
    assert status == 409


async def test_validation_errors_are_422_with_field_paths(raw: Raw) -> None:
    status, body = await raw.call("POST", SECRETS, secret("Bad_Name"))
    assert status == 422
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    status, body = await raw.call("POST", SECRETS, secret("ok", data={"k": "not base64!"}))
    assert status == 422
    assert body["details"]["causes"][0]["field"] == "data[k]"
    status, body = await raw.call("POST", SECRETS, secret("ok", metadata={"resourceVersion": "5"}))
    assert status == 400


async def test_generate_name_and_already_exists(raw: Raw) -> None:
    status, body = await raw.call("POST", CONFIGMAPS, {"metadata": {"generateName": "cm-"}})
    assert status == 201
    assert body["metadata"]["name"].startswith("cm-")
    assert len(body["metadata"]["name"]) == 8
    status, body = await raw.call(
        "POST", CONFIGMAPS, {"metadata": {"name": body["metadata"]["name"]}}
    )
    assert status == 409
    assert body["reason"] == "AlreadyExists"


async def test_missing_and_terminating_namespaces() -> None:
    async with started(namespace_grace=0.3) as (api, raw):
        await _terminate_namespace(api, raw)


async def _terminate_namespace(api: KubeAPIServer, raw: Raw) -> None:
    status, body = await raw.call(
        "POST", "/api/v1/namespaces/nope/configmaps", {"metadata": {"name": "x"}}
    )
    assert status == 404
    assert 'namespaces "nope" not found' in body["message"]
    await raw.call("POST", "/api/v1/namespaces", {"metadata": {"name": "doomed"}})
    await raw.call(
        "POST",
        "/api/v1/namespaces/doomed/configmaps",
        {"metadata": {"name": "held", "finalizers": ["test/hold"]}},
    )
    status, body = await raw.call("DELETE", "/api/v1/namespaces/doomed")
    assert status == 202
    assert body["status"]["phase"] == "Terminating"
    status, body = await raw.call(
        "POST", "/api/v1/namespaces/doomed/configmaps", {"metadata": {"name": "late"}}
    )
    assert status == 403
    assert "being terminated" in body["message"]
    # the namespace controller waits out its grace period before deleting the contents
    await asyncio.sleep(0.1)
    _, held = await raw.call("GET", "/api/v1/namespaces/doomed/configmaps/held")
    assert "deletionTimestamp" not in held["metadata"]
    await asyncio.sleep(0.35)
    _, held = await raw.call("GET", "/api/v1/namespaces/doomed/configmaps/held")
    assert held["metadata"]["deletionTimestamp"]
    await raw.call(
        "PATCH",
        "/api/v1/namespaces/doomed/configmaps/held",
        {"metadata": {"finalizers": None}},
        content_type="application/merge-patch+json",
    )
    for _ in range(100):
        if api.get_object("v1", "Namespace", "doomed") is None:
            break
        await asyncio.sleep(0.02)
    assert api.get_object("v1", "Namespace", "doomed") is None
