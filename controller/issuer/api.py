"""Names of the API: group, kinds, resources, finalizer, and how an issuerRef is resolved.

Invariants: an issuerRef is ours only when its group is exactly :data:`GROUP` (an empty group
means cert-manager.io); an empty kind means the namespaced kind, as issuer-lib and cert-manager's
approval webhook read it; a namespaced issuer is looked up in the request's namespace, a
cluster issuer with no namespace. :func:`secret_namespace` is the only place deciding where an
issuer may read Secrets from.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from controller.kube.resource import Resource

GROUP = "zerossl.issuer.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CERT_MANAGER_GROUP = "cert-manager.io"

ORDER_FINALIZER = f"{GROUP}/order-cleanup"
TRACEPARENT_ANNOTATION = f"{GROUP}/traceparent"
# Set (to any new value) on a ZeroSSLOrder to have ZeroSSL send the approval email again.
RESEND_EMAIL_ANNOTATION = f"{GROUP}/resend-email"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "zerossl-issuer"


class IssuerKind(StrEnum):
    ISSUER = "ZeroSSLIssuer"
    CLUSTER_ISSUER = "ZeroSSLClusterIssuer"

    @property
    def namespaced(self) -> bool:
        return self is IssuerKind.ISSUER


ZEROSSL_ISSUERS = Resource(GROUP, VERSION, "zerosslissuers", IssuerKind.ISSUER, namespaced=True)
ZEROSSL_CLUSTER_ISSUERS = Resource(
    GROUP, VERSION, "zerosslclusterissuers", IssuerKind.CLUSTER_ISSUER, namespaced=False
)
ZEROSSL_ORDERS = Resource(GROUP, VERSION, "zerosslorders", "ZeroSSLOrder", namespaced=True)
CERTIFICATE_REQUESTS = Resource(
    CERT_MANAGER_GROUP, "v1", "certificaterequests", "CertificateRequest", namespaced=True
)

ISSUER_RESOURCES = {
    IssuerKind.ISSUER: ZEROSSL_ISSUERS,
    IssuerKind.CLUSTER_ISSUER: ZEROSSL_CLUSTER_ISSUERS,
}


@dataclass(frozen=True, slots=True)
class IssuerRef:
    """A resolved reference to one of our issuers; ``namespace`` is None for cluster issuers."""

    kind: IssuerKind
    name: str
    namespace: str | None

    @property
    def resource(self) -> Resource:
        return ISSUER_RESOURCES[self.kind]

    @property
    def key(self) -> str:
        """The informer key of the issuer (client-go's ``namespace/name`` or ``name``)."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"


@dataclass(frozen=True, slots=True)
class ForeignRef:
    """An issuerRef of another group: not ours, never written to."""

    group: str


@dataclass(frozen=True, slots=True)
class UnknownKind:
    """An issuerRef of our group whose kind we do not serve (a permanent mistake)."""

    kind: str
    name: str

    @property
    def message(self) -> str:
        kinds = " or ".join(IssuerKind)
        return f"issuerRef.kind {self.kind!r} is not a kind of {GROUP}; use {kinds}"


def resolve_issuer_ref(
    group: str, kind: str, name: str, request_namespace: str
) -> IssuerRef | ForeignRef | UnknownKind:
    """What a CertificateRequest's ``spec.issuerRef`` points at."""
    effective_group = group or CERT_MANAGER_GROUP
    if effective_group != GROUP:
        return ForeignRef(effective_group)
    if not kind or kind == IssuerKind.ISSUER:
        return IssuerRef(IssuerKind.ISSUER, name, request_namespace)
    if kind == IssuerKind.CLUSTER_ISSUER:
        return IssuerRef(IssuerKind.CLUSTER_ISSUER, name, None)
    return UnknownKind(kind, name)


def issuer_ref_of_order(kind: IssuerKind, name: str, order_namespace: str) -> IssuerRef:
    """The issuer of an order's ``spec.issuerRef`` (a namespaced one in the order's namespace)."""
    return IssuerRef(kind, name, order_namespace if kind.namespaced else None)


def secret_namespace(ref: IssuerRef, cluster_resource_namespace: str) -> str:
    """Where the issuer reads Secrets: its own namespace, or the cluster resource namespace.

    There is deliberately no namespace field on any Secret reference: a user allowed to create
    an issuer must not be able to make the controller read Secrets of other namespaces.
    """
    return ref.namespace if ref.namespace is not None else cluster_resource_namespace
