"""What a user and cert-manager do to the cluster: API-key Secrets, issuers, and
CertificateRequests approved (or denied) the way cert-manager's approver does; plus waiting for
the outcome and reading the issued chain.

Approval writes the ``Approved``/``Denied`` condition through the ``/status`` subresource with
cert-manager's reason and message, keeping any other conditions (optimistic PUT, retried on
conflict). Waits poll with a bound and fail early when a request reached a terminal state other
than the one awaited.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Final, Literal

from cryptography import x509

from .csr import DEFAULT_USAGES
from .kubeapi import JSON, KubeAPI, KubeError
from .waiting import poll

GROUP: Final = "zerossl.issuer.dev"
ISSUER_API_VERSION: Final = f"{GROUP}/v1alpha1"
REQUEST_API_VERSION: Final = "cert-manager.io/v1"
APPROVER: Final = "cert-manager.io"
APPROVED_MESSAGE: Final = "Certificate request has been approved by cert-manager.io"
DENIED_MESSAGE: Final = "Certificate request has been denied by cert-manager.io"
TERMINAL_REASONS: Final = frozenset({"Failed", "Denied"})
_CONFLICT_ATTEMPTS: Final = 5

Approval = bool | Literal["denied"]
Decision = Literal["Approved", "Denied"]
IssuerKind = Literal["ZeroSSLIssuer", "ZeroSSLClusterIssuer"]


class RequestFailed(RuntimeError):
    """A CertificateRequest reached a terminal state other than the awaited one."""


def issuer_ref(kind: IssuerKind, name: str) -> dict[str, str]:
    return {"group": GROUP, "kind": kind, "name": name}


def find_condition(obj: JSON | None, kind: str) -> JSON | None:
    """The status condition of type ``kind``, if any."""
    for entry in ((obj or {}).get("status") or {}).get("conditions") or ():
        if entry.get("type") == kind:
            found: JSON = entry
            return found
    return None


def _conditions_text(obj: JSON | None) -> str:
    if obj is None:
        return "the object does not exist"
    rows = ((obj.get("status") or {}).get("conditions")) or []
    if not rows:
        return "no conditions"
    return "; ".join(
        f"{c.get('type')}={c.get('status')}/{c.get('reason')}: {c.get('message')}" for c in rows
    )


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class AlreadyDecided(ValueError):
    """The request carries the opposite decision (Approved and Denied are permanent)."""


async def decide(kube: KubeAPI, namespace: str, name: str, kind: Decision, message: str) -> JSON:
    """Write ``kind`` (``Approved`` or ``Denied``) = True on the request through its ``/status``
    subresource, as cert-manager's approver does. A request already carrying ``kind`` is
    returned unchanged; one carrying the opposite raises AlreadyDecided; a missing one raises
    LookupError. The PUT carries the resourceVersion read, so a decision written meanwhile
    makes it conflict, and the retry sees it (a request denied meanwhile is never approved)."""
    opposite = "Denied" if kind == "Approved" else "Approved"
    for attempt in range(1, _CONFLICT_ATTEMPTS + 1):
        request = await kube.get(REQUEST_API_VERSION, "CertificateRequest", name, namespace)
        if request is None:
            raise LookupError(f"CertificateRequest {namespace}/{name} does not exist")
        if find_condition(request, opposite) is not None:
            raise AlreadyDecided(f"CertificateRequest {namespace}/{name} is already {opposite}")
        if find_condition(request, kind) is not None:
            return request
        status = request.setdefault("status", {})
        status["conditions"] = [
            *(status.get("conditions") or ()),
            {
                "type": kind,
                "status": "True",
                "reason": APPROVER,
                "message": message,
                "lastTransitionTime": now_rfc3339(),
            },
        ]
        try:
            return await kube.replace_status(request)
        except KubeError as exc:
            if exc.status != 409 or attempt == _CONFLICT_ATTEMPTS:
                raise
    raise AssertionError("unreachable: the last attempt returns or raises")


class Cluster:
    """Acts on the cluster through ``kube`` (an admin client). ``secret_namespace`` and
    ``api_key`` are the defaults for API-key Secrets (the cluster resource namespace and the
    emulator account's key)."""

    def __init__(self, kube: KubeAPI, *, secret_namespace: str, api_key: str) -> None:
        self.kube = kube
        self.secret_namespace = secret_namespace
        self.api_key = api_key

    async def create_namespace(self, name: str) -> JSON:
        return await self.kube.apply(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        )

    async def create_api_key_secret(
        self,
        namespace: str | None = None,
        name: str = "zerossl-api-key",
        *,
        key: str = "api-key",
        value: str | None = None,
    ) -> JSON:
        """A Secret holding ``value`` (default: the emulator account's key) under ``key``, in
        ``namespace`` (default: the cluster resource namespace)."""
        secret = value if value is not None else self.api_key
        return await self.kube.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name, "namespace": namespace or self.secret_namespace},
                "type": "Opaque",
                "data": {key: base64.b64encode(secret.encode()).decode()},
            }
        )

    async def create_issuer(
        self, kind: IssuerKind, name: str, namespace: str | None, spec: Mapping[str, object]
    ) -> JSON:
        """A ZeroSSLIssuer (``namespace`` required) or ZeroSSLClusterIssuer (None)."""
        if (kind == "ZeroSSLIssuer") != (namespace is not None):
            raise ValueError("a ZeroSSLIssuer needs a namespace; a ZeroSSLClusterIssuer has none")
        meta: JSON = {"name": name} if namespace is None else {"name": name, "namespace": namespace}
        return await self.kube.create(
            {"apiVersion": ISSUER_API_VERSION, "kind": kind, "metadata": meta, "spec": dict(spec)}
        )

    async def wait_for_issuer(
        self,
        kind: IssuerKind,
        name: str,
        namespace: str | None = None,
        *,
        status: str = "True",
        timeout: float = 30.0,
    ) -> JSON:
        """The issuer once its Ready condition has ``status`` for its current generation."""
        last: JSON | None = None

        async def probe() -> JSON | None:
            nonlocal last
            last = await self.kube.get(ISSUER_API_VERSION, kind, name, namespace)
            ready = find_condition(last, "Ready")
            if last is None or ready is None or ready.get("status") != status:
                return None
            generation = last["metadata"].get("generation")
            observed = ready.get("observedGeneration")
            return last if observed is None or observed == generation else None

        where = f"{namespace}/{name}" if namespace else name
        return await poll(
            probe,
            timeout=timeout,
            describe=lambda: f"{kind} {where} Ready={status}? {_conditions_text(last)}",
        )

    # --- CertificateRequests, as cert-manager makes them ----------------------------------

    async def create_certificate_request(
        self,
        namespace: str,
        name: str,
        csr_pem: bytes,
        issuer_ref: Mapping[str, str],
        *,
        approved: Approval = True,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        usages: Sequence[str] = DEFAULT_USAGES,
        duration: str | None = None,
    ) -> JSON:
        """Create the request, then approve it (True), deny it ("denied") or leave it (False)."""
        meta: JSON = {"name": name, "namespace": namespace}
        if labels:
            meta["labels"] = dict(labels)
        if annotations:
            meta["annotations"] = dict(annotations)
        spec: JSON = {
            "request": base64.b64encode(csr_pem).decode(),
            "issuerRef": dict(issuer_ref),
            "usages": list(usages),
        }
        if duration is not None:
            spec["duration"] = duration
        created = await self.kube.create(
            {
                "apiVersion": REQUEST_API_VERSION,
                "kind": "CertificateRequest",
                "metadata": meta,
                "spec": spec,
            }
        )
        if approved is True:
            return await self.approve(namespace, name)
        if approved == "denied":
            return await self.deny(namespace, name)
        return created

    async def approve(self, namespace: str, name: str, *, message: str = APPROVED_MESSAGE) -> JSON:
        return await decide(self.kube, namespace, name, "Approved", message)

    async def deny(self, namespace: str, name: str, *, message: str = DENIED_MESSAGE) -> JSON:
        return await decide(self.kube, namespace, name, "Denied", message)

    async def get_request(self, namespace: str, name: str) -> JSON:
        request = await self.kube.get(REQUEST_API_VERSION, "CertificateRequest", name, namespace)
        if request is None:
            raise LookupError(f"CertificateRequest {namespace}/{name} does not exist")
        return request

    async def wait_for_request(
        self,
        namespace: str,
        name: str,
        *,
        condition: str = "Ready",
        status: str = "True",
        reason: str | None = None,
        timeout: float = 60.0,
    ) -> JSON:
        """The request once it has condition ``condition`` = ``status`` (with ``reason``
        when given). Waiting for Ready fails early with RequestFailed when the request became
        terminally Failed or Denied instead."""
        last: JSON | None = None
        wanted = f"{condition}={status}" + (f"/{reason}" if reason else "")

        async def probe() -> JSON | None:
            nonlocal last
            last = await self.kube.get(REQUEST_API_VERSION, "CertificateRequest", name, namespace)
            found = find_condition(last, condition)
            if (
                found is not None
                and found.get("status") == status
                and (reason is None or found.get("reason") == reason)
            ):
                return last
            ready = find_condition(last, "Ready")
            if (
                condition == "Ready"
                and ready is not None
                and ready.get("reason") in TERMINAL_REASONS
            ):
                raise RequestFailed(
                    f"CertificateRequest {namespace}/{name} is {ready.get('reason')} while "
                    f"waiting for {wanted}: {_conditions_text(last)}"
                )
            return None

        return await poll(
            probe,
            timeout=timeout,
            describe=lambda: (
                f"CertificateRequest {namespace}/{name} {wanted}? {_conditions_text(last)}"
            ),
        )

    async def issued_chain(self, namespace: str, name: str) -> list[x509.Certificate]:
        """The certificates in ``status.certificate``, leaf first."""
        request = await self.get_request(namespace, name)
        encoded = (request.get("status") or {}).get("certificate")
        if not encoded:
            raise ValueError(f"CertificateRequest {namespace}/{name} has no status.certificate")
        return x509.load_pem_x509_certificates(base64.b64decode(encoded))
