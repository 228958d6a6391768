"""cert-manager's auto-approver, for this issuer's signers only.

Invariants: a request is approved only when its ``spec.issuerRef.group`` is exactly
``zerossl.issuer.dev`` and it carries neither ``Approved`` nor ``Denied``; the condition is
written through the ``/status`` subresource with the resourceVersion read (see
:func:`~controller.sandbox.stack.cluster.decide`), so a request denied meanwhile is never
approved, and one approved already is left as it is.
"""

from __future__ import annotations

from controller.sandbox.stack.cluster import (
    APPROVED_MESSAGE,
    GROUP,
    REQUEST_API_VERSION,
    AlreadyDecided,
    decide,
    find_condition,
)
from controller.sandbox.stack.kubeapi import JSON, KubeAPI


def awaits_approval(request: JSON) -> bool:
    """Whether the auto-approver should approve ``request`` now."""
    ref = (request.get("spec") or {}).get("issuerRef") or {}
    return (
        ref.get("group") == GROUP
        and find_condition(request, "Approved") is None
        and find_condition(request, "Denied") is None
    )


async def approve_waiting(kube: KubeAPI) -> list[str]:
    """Approve every request that :func:`awaits_approval`, in all namespaces; returns their
    ``namespace/name``. A request deleted or denied since the listing is skipped."""
    approved: list[str] = []
    for request in await kube.list_objects(REQUEST_API_VERSION, "CertificateRequest"):
        if not awaits_approval(request):
            continue
        meta = request["metadata"]
        try:
            await decide(kube, meta["namespace"], meta["name"], "Approved", APPROVED_MESSAGE)
        except (AlreadyDecided, LookupError):
            continue
        approved.append(f"{meta['namespace']}/{meta['name']}")
    return approved
