"""The two ways this controller writes status, and recording a decision's Events.

Invariants: our own kinds get their whole status replaced through ``/status`` with the
resourceVersion of the object the decision was made from (a stale decision gets 409 and is made
again from a newer cache); a CertificateRequest, which other controllers also write, only gets
the fields this controller owns, by server-side apply under one field manager. Each reconciler
records its writes (:class:`~.watches.OwnWrites`), so it never decides again from a cache that
has not seen its own last write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from controller.clock import Clock
from controller.issuer.decision import Event
from controller.kube.client import KubeClient
from controller.kube.events import EventRecorder, object_reference
from controller.kube.resource import Resource
from controller.kube.store import Store

FIELD_MANAGER = "zerossl-issuer"
CACHE_POLL = 0.005  # seconds between looks at the cache while waiting for it


async def replace_status(
    api: KubeClient, res: Resource, obj: Mapping[str, Any], status: Mapping[str, Any]
) -> dict[str, Any]:
    """PUT ``status`` on ``obj`` (conditional on its resourceVersion); returns the new object."""
    body = {**obj, "status": dict(status)}
    namespace = obj["metadata"].get("namespace")
    return await api.replace(res, body, namespace, subresource="status")


async def apply_status(
    api: KubeClient, res: Resource, obj: Mapping[str, Any], status: Mapping[str, Any]
) -> dict[str, Any]:
    """Server-side apply of the fields in ``status`` we own, forced, on the status subresource."""
    meta = obj["metadata"]
    body = {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "metadata": {"name": meta["name"], "namespace": meta.get("namespace")},
        "status": dict(status),
    }
    return await api.patch(
        res,
        meta["name"],
        body,
        namespace=meta.get("namespace"),
        patch_type="apply",
        subresource="status",
        field_manager=FIELD_MANAGER,
        force=True,
    )


def record_events(
    recorder: EventRecorder, obj: Mapping[str, Any], events: Iterable[Event], action: str
) -> None:
    for event in events:
        recorder.record(object_reference(obj), event.type.value, event.reason, action, event.note)


async def caught_up(
    store: Store, key: str, resource_version: str, clock: Clock, *, timeout: float
) -> bool:
    """Waits until the cached ``key`` is at least at ``resource_version`` (or gone), at most
    ``timeout`` seconds; False if it still lags then. Non-numeric versions never wait."""
    deadline = clock.monotonic() + timeout
    while True:
        cached = store.get_cached(key)
        seen = (cached.resource_version or "") if cached is not None else ""
        if cached is None or not (seen.isdigit() and resource_version.isdigit()):
            return True
        if int(seen) >= int(resource_version):
            return True
        if clock.monotonic() >= deadline:
            return False
        await asyncio.sleep(CACHE_POLL)
