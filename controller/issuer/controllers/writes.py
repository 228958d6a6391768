"""The two ways this controller writes status, and recording a decision's Events.

Invariants: our own kinds get their whole status replaced through ``/status`` with the
resourceVersion of the object the decision was made from (a stale decision gets 409 and is made
again from a newer cache); a CertificateRequest, which other controllers also write, only gets
the fields this controller owns, by server-side apply under one field manager.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from controller.issuer.decision import Event
from controller.kube.client import KubeClient
from controller.kube.events import EventRecorder, object_reference
from controller.kube.resource import Resource

FIELD_MANAGER = "zerossl-issuer"


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
