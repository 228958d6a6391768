"""The informers every replica runs, and typed lookups into their stores.

Invariants: every replica keeps the same caches (warm standby); the CertificateRequest cache
holds only what this controller reads (a finished request: no CSR, chain or CA); the Secret
cache holds metadata only (:func:`~controller.issuer.secrets.strip_secret_data`); the indexes
answer "which requests and orders use this issuer" and "which issuers use this Secret" without
scanning.
"""

from __future__ import annotations

from typing import Any

from controller.issuer.api import (
    CERTIFICATE_REQUESTS,
    ZEROSSL_CLUSTER_ISSUERS,
    ZEROSSL_ISSUERS,
    ZEROSSL_ORDERS,
    ForeignRef,
    IssuerKind,
    IssuerRef,
    UnknownKind,
    issuer_ref_of_order,
    resolve_issuer_ref,
    secret_namespace,
)
from controller.issuer.decide_request import request_finished
from controller.issuer.issuers import Issuer
from controller.issuer.orders import Order
from controller.issuer.secrets import strip_secret_data
from controller.kube.client import KubeClient
from controller.kube.informer import CachedObject, Informer, trim_object
from controller.kube.resource import SECRETS

BY_ISSUER = "issuer"
BY_SECRET = "secret"  # noqa: S105 (an index name)
BY_FILE = "validation-file"
BY_CERTIFICATE = "certificate"


def issuer_key(ref: IssuerRef) -> str:
    """The issuer queue's key: ``<Kind>/<namespace>/<name>`` or ``<Kind>/<name>``."""
    return f"{ref.kind}/{ref.key}"


def issuer_key_of(obj: CachedObject) -> str:
    """The issuer queue's key of a cached ZeroSSLIssuer or ZeroSSLClusterIssuer."""
    return issuer_key(Issuer.from_object(obj.decode()).ref)


def parse_issuer_key(key: str) -> IssuerRef:
    kind, _, rest = key.partition("/")
    parsed = IssuerKind(kind)
    if parsed.namespaced:
        namespace, _, name = rest.partition("/")
        return IssuerRef(parsed, name, namespace)
    return IssuerRef(parsed, rest, None)


def _request_ref(obj: dict[str, Any]) -> IssuerRef | ForeignRef | UnknownKind:
    spec = obj.get("spec") or {}
    ref = spec.get("issuerRef") or {}
    return resolve_issuer_ref(
        str(ref.get("group") or ""),
        str(ref.get("kind") or ""),
        str(ref.get("name") or ""),
        str(obj["metadata"].get("namespace") or ""),
    )


def request_issuer(obj: dict[str, Any]) -> IssuerRef | None:
    """The issuer a CertificateRequest object points at, if it is one of ours."""
    resolved = _request_ref(obj)
    return resolved if isinstance(resolved, IssuerRef) else None


def request_is_ours(obj: dict[str, Any]) -> bool:
    """True if the request names our group, whatever the kind: one naming a kind we do not
    serve is ours to fail (IssuerKindUnknown), so it is cached whole and reconciled."""
    return not isinstance(_request_ref(obj), ForeignRef)


def _request_index(obj: dict[str, Any]) -> tuple[str, ...]:
    ref = request_issuer(obj)
    return (issuer_key(ref),) if ref else ()


def _order_issuer(obj: dict[str, Any]) -> IssuerRef | None:
    """The issuer in an order's ``spec.issuerRef``, read without parsing the rest of the order
    (this runs for every order event); None if the reference is not one of our kinds."""
    issuer = (obj.get("spec") or {}).get("issuerRef") or {}
    try:
        kind = IssuerKind(str(issuer.get("kind")))
    except ValueError:
        return None
    return issuer_ref_of_order(kind, str(issuer.get("name")), obj["metadata"]["namespace"])


def _order_index(obj: dict[str, Any]) -> tuple[str, ...]:
    ref = _order_issuer(obj)
    return (issuer_key(ref),) if ref else ()


def _secret_refs(config: Any) -> list[str]:
    """Names of every ``...SecretRef: {name: ...}`` inside a solver's config."""
    found: list[str] = []
    if isinstance(config, dict):
        for field, value in config.items():
            if field.endswith("SecretRef") and isinstance(value, dict) and value.get("name"):
                found.append(str(value["name"]))
            else:
                found += _secret_refs(value)
    elif isinstance(config, list):
        for item in config:
            found += _secret_refs(item)
    return found


def _order_files(obj: dict[str, Any]) -> tuple[str, ...]:
    """The validation file names an order serves (``<MD5>.txt``)."""
    records = (obj.get("status") or {}).get("validations") or ()
    names = []
    for record in records:
        http = record.get("http") if isinstance(record, dict) else None
        path = http.get("path") if isinstance(http, dict) else None
        if isinstance(path, str) and path.endswith(".txt"):
            names.append(path.rsplit("/", 1)[-1])
    return tuple(names)


def _order_certificate(obj: dict[str, Any]) -> tuple[str, ...]:
    """The ZeroSSL certificate id an order's status records (the certificate it owns)."""
    cert_id = (obj.get("status") or {}).get("certificateID")
    return (cert_id,) if isinstance(cert_id, str) and cert_id else ()


def _serving_rank(obj: dict[str, Any], record: dict[str, Any]) -> int:
    """0 for a file ZeroSSL is about to fetch (presented, not yet accepted, its order not
    being deleted), 1 for any other: with orders sharing a CSR, the one whose turn it is
    (:mod:`~controller.issuer.controllers.turns`) is served."""
    live = not obj["metadata"].get("deletionTimestamp")
    return 0 if live and record.get("presented") is True and record.get("state") != "Valid" else 1


FINISHED_REQUEST_DROPS = (("spec", "request"), ("status", "certificate"), ("status", "ca"))
"""What a finished request of ours is cached without: its CSR and the issued chain and CA
(~2 KB of the ~2.8 KB an Issued request takes), read only while deciding an unfinished one."""


def _finished(obj: dict[str, Any]) -> bool:
    status = obj.get("status")
    conditions = status.get("conditions") if isinstance(status, dict) else None
    if not isinstance(conditions, list):
        return False
    return request_finished([c for c in conditions if isinstance(c, dict)])


def _trim_request(obj: dict[str, Any]) -> dict[str, Any]:
    """Requests of other issuers keep only what routing needs; ours keep all we read: a
    finished one (:func:`~controller.issuer.decide_request.request_finished`) all but
    :data:`FINISHED_REQUEST_DROPS`. Every list item and watch event carries the whole object
    again, so a request that leaves its finished state (its status reset) is cached whole."""
    obj = trim_object(obj)
    if not request_is_ours(obj):
        return {
            "apiVersion": obj.get("apiVersion"),
            "kind": obj.get("kind"),
            "metadata": obj["metadata"],
            "spec": {"issuerRef": (obj.get("spec") or {}).get("issuerRef") or {}},
        }
    if _finished(obj):
        for part, field in FINISHED_REQUEST_DROPS:
            section = obj.get(part)
            if isinstance(section, dict):
                section.pop(field, None)
    return obj


class Caches:
    """The informers and the lookups the reconcilers make into them."""

    def __init__(self, kube: KubeClient, cluster_resource_namespace: str) -> None:
        self.cluster_resource_namespace = cluster_resource_namespace
        self.requests = Informer(
            kube,
            CERTIFICATE_REQUESTS,
            indexers={BY_ISSUER: _request_index},
            transform=_trim_request,
        )
        self.orders = Informer(
            kube,
            ZEROSSL_ORDERS,
            indexers={
                BY_ISSUER: _order_index,
                BY_FILE: _order_files,
                BY_CERTIFICATE: _order_certificate,
                BY_SECRET: self._order_secrets,
            },
        )
        self.issuers = Informer(kube, ZEROSSL_ISSUERS, indexers={BY_SECRET: self._issuer_secret})
        self.cluster_issuers = Informer(
            kube, ZEROSSL_CLUSTER_ISSUERS, indexers={BY_SECRET: self._issuer_secret}
        )
        self.secrets = Informer(kube, SECRETS, transform=strip_secret_data)
        self._parsed_issuers: dict[IssuerRef, tuple[CachedObject, Issuer]] = {}

    @property
    def informers(self) -> tuple[Informer, ...]:
        return (self.requests, self.orders, self.issuers, self.cluster_issuers, self.secrets)

    def synced(self) -> bool:
        return all(informer.has_synced() for informer in self.informers)

    def _issuer_secret(self, obj: dict[str, Any]) -> tuple[str, ...]:
        """``namespace/name`` of the API key Secret and of every Secret the solvers read: the
        issuer check covers them all, so a change to any of them re-checks the issuer."""
        spec = obj.get("spec") or {}
        ref = spec.get("apiKeySecretRef") or {}
        name = ref.get("name")
        names = [name] if isinstance(name, str) else []
        names += _secret_refs(spec.get("solvers"))
        meta = obj["metadata"]
        kind = IssuerKind(str(obj.get("kind")))
        issuer = IssuerRef(kind, meta["name"], meta.get("namespace") if kind.namespaced else None)
        namespace = secret_namespace(issuer, self.cluster_resource_namespace)
        return tuple(sorted({f"{namespace}/{n}" for n in names}))

    def _order_secrets(self, obj: dict[str, Any]) -> tuple[str, ...]:
        """``namespace/name`` of the Secrets an order's solvers read (TSIG keys, API tokens),
        so that fixing one wakes the orders waiting on it."""
        ref = _order_issuer(obj)
        if ref is None:
            return ()
        namespace = secret_namespace(ref, self.cluster_resource_namespace)
        names = _secret_refs((obj.get("spec") or {}).get("solvers"))
        return tuple(sorted({f"{namespace}/{name}" for name in names}))

    def issuer_store(self, kind: IssuerKind) -> Informer:
        return self.issuers if kind is IssuerKind.ISSUER else self.cluster_issuers

    def issuer_object(self, ref: IssuerRef) -> dict[str, Any] | None:
        return self.issuer_store(ref.kind).store.get(ref.key)

    def issuer(self, ref: IssuerRef) -> Issuer | None:
        """The cached issuer, parsed once per cached version (every reconcile of a request or
        order looks its issuer up; there are few issuers and many lookups)."""
        cached = self.issuer_store(ref.kind).store.get_cached(ref.key)
        if cached is None:
            self._parsed_issuers.pop(ref, None)
            return None
        parsed = self._parsed_issuers.get(ref)
        if parsed is None or parsed[0] is not cached:
            parsed = self._parsed_issuers[ref] = (cached, Issuer.from_object(cached.decode()))
        return parsed[1]

    def order(self, key: str) -> Order | None:
        obj = self.orders.store.get(key)
        return Order.from_object(obj) if obj is not None else None

    def validation_file(self, file_name: str) -> bytes | None:
        """The body of an HTTP validation file some order serves (the HTTP solver's lookup);
        of orders sharing the file (one CSR), the one ZeroSSL is validating."""
        found: list[tuple[int, str]] = []
        for obj in self.orders.store.by_index(BY_FILE, file_name):
            for record in (obj.get("status") or {}).get("validations") or ():
                http = record.get("http") or {}
                if str(http.get("path", "")).endswith("/" + file_name):
                    content = http.get("content")
                    if isinstance(content, str):
                        found.append((_serving_rank(obj, record), content))
        return min(found, key=lambda ranked: ranked[0])[1].encode() if found else None

    def certificate_owners(self, cert_id: str) -> list[str]:
        """``namespace/name`` of the orders whose status records ``cert_id``."""
        return [
            f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
            for obj in self.orders.store.by_index(BY_CERTIFICATE, cert_id)
        ]

    def validating_over_http(self, file_name: str) -> list[str]:
        """``namespace/name`` of the live orders whose presented file ``file_name`` ZeroSSL has
        not accepted yet (the HTTP validation in progress for that CSR, by the status)."""
        return sorted(
            f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
            for obj in self.orders.store.by_index(BY_FILE, file_name)
            if any(
                _serving_rank(obj, record) == 0
                for record in (obj.get("status") or {}).get("validations") or ()
            )
        )
