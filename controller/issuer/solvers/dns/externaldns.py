"""externalDNS: a ``DNSEndpoint`` object (externaldns.k8s.io/v1alpha1) per record, published by
whatever external-dns instance watches it, so every provider external-dns supports works here.

Invariants: the object's name is a function of the order's name and the record's name, so
``present`` is an idempotent create-or-update and ``cleanup`` finds the same object; cleanup
deletes it only while it still carries the record's target. The object is owned by the
ZeroSSLOrder (so Kubernetes garbage-collects it with the order) when both live in the same
namespace; ownerReferences cannot cross namespaces, so a DNSEndpoint placed elsewhere
(``namespace`` in the spec) is removed by cleanup only.

Names in the DNSEndpoint carry no trailing dot: external-dns strips it everywhere and, before
v0.21, its CRD source skipped CNAME targets ending in a dot as "illegal target format"
(kubernetes-sigs/external-dns#5954, #6218); its providers make the target absolute again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from controller.issuer.solvers.dns.errors import (
    DNSProviderError,
    InvalidSolverSpec,
    RateLimited,
    TransportError,
    UpdateRefused,
)
from controller.issuer.solvers.dns.protocols import ObjectWriter
from controller.issuer.solvers.dns.record import CNAMERecord
from controller.issuer.solvers.dns.spec import Fields
from controller.kube.errors import (
    AlreadyExists,
    ApiError,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from controller.kube.resource import Resource

DNSENDPOINTS = Resource("externaldns.k8s.io", "v1alpha1", "dnsendpoints", "DNSEndpoint", True)
MANAGED_BY = {"app.kubernetes.io/managed-by": "zerossl-issuer"}
RECORD_ANNOTATION = "zerossl.issuer.dev/record"
_NAME_PREFIX_MAX = 200


class ExternalDNSProvider:
    """DNSEndpoints in ``namespace`` (default: the order's), with extra labels/annotations."""

    solver = "externalDNS"

    def __init__(
        self,
        kube: ObjectWriter,
        owner: Mapping[str, Any],
        *,
        namespace: str | None,
        labels: Mapping[str, str],
        annotations: Mapping[str, str],
    ) -> None:
        metadata = owner.get("metadata") or {}
        missing = [f for f in ("name", "namespace", "uid") if not metadata.get(f)]
        if missing or not owner.get("apiVersion") or not owner.get("kind"):
            raise ValueError(f"the owner needs apiVersion, kind and metadata {missing}")
        self._kube = kube
        self._owner = owner
        self._owner_name: str = metadata["name"]
        self._namespace: str = namespace or metadata["namespace"]
        self._owned = self._namespace == metadata["namespace"]
        self._labels = {**labels, **MANAGED_BY}
        self._annotations = dict(annotations)

    @classmethod
    def from_spec(
        cls, spec: Fields, *, kube: ObjectWriter | None, owner: Mapping[str, Any]
    ) -> ExternalDNSProvider:
        if kube is None:
            raise ValueError("the externalDNS provider needs a Kubernetes client")
        return cls(
            kube,
            owner,
            namespace=spec.text("namespace"),
            labels=spec.string_map("labels"),
            annotations=spec.string_map("annotations"),
        )

    def object_name(self, record: CNAMERecord) -> str:
        """``<order name>-<10 hex digits of the record name's hash>``: stable and valid."""
        digest = hashlib.sha256(record.name.encode()).hexdigest()[:10]
        return f"{self._owner_name[:_NAME_PREFIX_MAX].rstrip('.-')}-{digest}"

    def desired(self, record: CNAMERecord) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "name": self.object_name(record),
            "namespace": self._namespace,
            "labels": self._labels,
            "annotations": {**self._annotations, RECORD_ANNOTATION: record.name},
        }
        if self._owned:
            metadata["ownerReferences"] = [
                {
                    "apiVersion": self._owner["apiVersion"],
                    "kind": self._owner["kind"],
                    "name": self._owner_name,
                    "uid": self._owner["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ]
        endpoint = {
            "dnsName": record.name.rstrip("."),
            "recordType": "CNAME",
            "recordTTL": record.ttl,
            "targets": [record.target.rstrip(".")],
        }
        return {
            "apiVersion": DNSENDPOINTS.api_version,
            "kind": DNSENDPOINTS.kind,
            "metadata": metadata,
            "spec": {"endpoints": [endpoint]},
        }

    async def present(self, record: CNAMERecord) -> None:
        body = self.desired(record)
        try:
            await self._kube.create(DNSENDPOINTS, body, self._namespace)
            return
        except AlreadyExists:
            pass
        except ApiError as error:
            raise self._error(error, "create") from None
        try:
            current = await self._kube.get(DNSENDPOINTS, body["metadata"]["name"], self._namespace)
            if _same(current, body):
                return
            body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            await self._kube.replace(DNSENDPOINTS, body, self._namespace)
        except ApiError as error:
            raise self._error(error, "update") from None

    async def cleanup(self, record: CNAMERecord) -> None:
        name = self.object_name(record)
        try:
            current = await self._kube.get(DNSENDPOINTS, name, self._namespace)
            if _targets(current) != [record.target.rstrip(".")]:
                return  # it belongs to a newer target now
            await self._kube.delete(DNSENDPOINTS, name, self._namespace)
        except NotFound:
            return
        except ApiError as error:
            raise self._error(error, "delete") from None

    def _error(self, error: ApiError, verb: str) -> DNSProviderError:
        where = f"DNSEndpoint in namespace {self._namespace}"
        detail = error.message or error.reason or str(error.status)
        if isinstance(error, Unauthorized | Forbidden):
            return UpdateRefused(
                f"the controller may not {verb} a {where}: grant it dnsendpoints in RBAC ({detail})"
            )
        if isinstance(error, NotFound):
            return DNSProviderError(
                f"cannot {verb} a {where}: the namespace or the DNSEndpoint API "
                f"({DNSENDPOINTS.api_version}, installed with external-dns) is missing"
            )
        if isinstance(error, Invalid):
            return InvalidSolverSpec(f"the API server rejected the {where}: {detail}")
        if isinstance(error, TooManyRequests):
            return RateLimited(f"the API server throttled a {where}", retry_after=error.retry_after)
        if isinstance(error, Conflict) or error.retryable:
            return TransportError(f"could not {verb} a {where}: {detail}")
        return DNSProviderError(f"could not {verb} a {where}: {detail}")


def _same(current: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    have, want = current.get("metadata") or {}, desired["metadata"]
    return (
        current.get("spec") == desired["spec"]
        and all((have.get("labels") or {}).get(k) == v for k, v in want["labels"].items())
        and all((have.get("annotations") or {}).get(k) == v for k, v in want["annotations"].items())
        and (have.get("ownerReferences") or None) == want.get("ownerReferences")
    )


def _targets(obj: Mapping[str, Any]) -> list[str]:
    endpoints = (obj.get("spec") or {}).get("endpoints") or [{}]
    return [str(t) for t in endpoints[0].get("targets") or []]
