"""Finalizers, deletionTimestamp and ownerReference garbage collection."""

from __future__ import annotations

import asyncio
from typing import Any

from controller.sandbox.kube import KubeAPIServer

from .conftest import Raw

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
MERGE = "application/merge-patch+json"


async def eventually_gone(api: KubeAPIServer, name: str) -> None:
    for _ in range(100):
        if api.get_object("v1", "ConfigMap", name, "default") is None:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"configmap {name} still exists")


def owned(name: str, owner: dict[str, Any], **meta: Any) -> dict[str, Any]:
    ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
    }
    return {"metadata": {"name": name, "ownerReferences": [ref], **meta}}


async def test_finalizers_hold_deletion_until_removed(raw: Raw) -> None:
    _, created = await raw.call(
        "POST", CONFIGMAPS, {"metadata": {"name": "f", "finalizers": ["a/b"]}}
    )
    watching = asyncio.create_task(
        raw.watch(
            CONFIGMAPS,
            {"resourceVersion": created["metadata"]["resourceVersion"], "timeoutSeconds": "1"},
        )
    )
    await asyncio.sleep(0.1)
    status, marked = await raw.call("DELETE", f"{CONFIGMAPS}/f")
    assert status == 202
    assert marked["metadata"]["deletionTimestamp"]
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 0
    status, body = await raw.call(
        "PATCH", f"{CONFIGMAPS}/f", {"metadata": {"finalizers": ["a/b", "c/d"]}}, content_type=MERGE
    )
    assert status == 422
    assert "no new finalizers" in body["message"]
    status, body = await raw.call("POST", CONFIGMAPS, {"metadata": {"name": "f"}})
    assert status == 409
    assert "object is being deleted" in body["message"]
    status, _ = await raw.call(
        "PATCH", f"{CONFIGMAPS}/f", {"metadata": {"finalizers": None}}, content_type=MERGE
    )
    assert status == 200
    status, _ = await raw.call("GET", f"{CONFIGMAPS}/f")
    assert status == 404
    events = await watching
    assert [e["type"] for e in events] == ["MODIFIED", "DELETED"]
    assert "finalizers" not in events[1]["object"]["metadata"]


async def test_background_gc_deletes_dependents_and_honours_their_finalizers(
    api: KubeAPIServer, raw: Raw
) -> None:
    _, owner = await raw.call("POST", CONFIGMAPS, {"metadata": {"name": "owner"}})
    await raw.call("POST", CONFIGMAPS, owned("plain", owner))
    await raw.call("POST", CONFIGMAPS, owned("held", owner, finalizers=["x/y"]))
    await raw.call("DELETE", f"{CONFIGMAPS}/owner")
    await eventually_gone(api, "plain")
    held = api.get_object("v1", "ConfigMap", "held", "default")
    assert held is not None
    assert held["metadata"]["deletionTimestamp"]


async def test_dependent_of_missing_owner_is_collected(api: KubeAPIServer, raw: Raw) -> None:
    ghost = {"metadata": {"name": "ghost", "uid": "00000000-0000-0000-0000-000000000000"}}
    await raw.call("POST", CONFIGMAPS, owned("orphaned", ghost))
    await eventually_gone(api, "orphaned")


async def test_dangling_reference_next_to_live_owner_is_removed(
    api: KubeAPIServer, raw: Raw
) -> None:
    _, alive = await raw.call("POST", CONFIGMAPS, {"metadata": {"name": "alive"}})
    _, dying = await raw.call("POST", CONFIGMAPS, {"metadata": {"name": "dying"}})
    both = owned("both", alive)
    both["metadata"]["ownerReferences"] += owned("x", dying)["metadata"]["ownerReferences"]
    await raw.call("POST", CONFIGMAPS, both)
    await raw.call("DELETE", f"{CONFIGMAPS}/dying")
    for _ in range(100):
        refs = api.get_object("v1", "ConfigMap", "both", "default")["metadata"]["ownerReferences"]
        if len(refs) == 1:
            break
        await asyncio.sleep(0.02)
    assert [r["name"] for r in refs] == ["alive"]


async def test_orphan_and_foreground_propagation(api: KubeAPIServer, raw: Raw) -> None:
    _, owner = await raw.call("POST", CONFIGMAPS, {"metadata": {"name": "o1"}})
    await raw.call("POST", CONFIGMAPS, owned("kept", owner))
    await raw.call("DELETE", f"{CONFIGMAPS}/o1", {"propagationPolicy": "Orphan"})
    await eventually_gone(api, "o1")
    kept = api.get_object("v1", "ConfigMap", "kept", "default")
    assert kept is not None
    assert "ownerReferences" not in kept["metadata"]

    _, owner = await raw.call("POST", CONFIGMAPS, {"metadata": {"name": "o2"}})
    await raw.call("POST", CONFIGMAPS, owned("blocker", owner, finalizers=["x/y"]))
    status, marked = await raw.call(
        "DELETE", f"{CONFIGMAPS}/o2", params={"propagationPolicy": "Foreground"}
    )
    assert status == 202
    assert "foregroundDeletion" in marked["metadata"]["finalizers"]
    await asyncio.sleep(0.1)
    assert api.get_object("v1", "ConfigMap", "o2", "default") is not None
    await raw.call(
        "PATCH", f"{CONFIGMAPS}/blocker", {"metadata": {"finalizers": None}}, content_type=MERGE
    )
    await eventually_gone(api, "blocker")
    await eventually_gone(api, "o2")


async def test_delete_preconditions(raw: Raw) -> None:
    _, created = await raw.call("POST", CONFIGMAPS, {"metadata": {"name": "p"}})
    status, _ = await raw.call(
        "DELETE", f"{CONFIGMAPS}/p", {"preconditions": {"resourceVersion": "1"}}
    )
    assert status == 409
    status, _ = await raw.call(
        "DELETE", f"{CONFIGMAPS}/p", {"preconditions": {"uid": created["metadata"]["uid"]}}
    )
    assert status == 200


async def test_delete_collection_by_label(api: KubeAPIServer, raw: Raw) -> None:
    for name, app in (("a", "x"), ("b", "x"), ("c", "y")):
        await raw.call("POST", CONFIGMAPS, {"metadata": {"name": name, "labels": {"app": app}}})
    status, body = await raw.call("DELETE", CONFIGMAPS, params={"labelSelector": "app=x"})
    assert status == 200
    assert sorted(i["metadata"]["name"] for i in body["items"]) == ["a", "b"]
    assert [o["metadata"]["name"] for o in api.list_objects("v1", "ConfigMap", "default")] == ["c"]
