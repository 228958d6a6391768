"""A minimal stand-in for cert-manager's Certificate controllers: a ``Certificate`` whose
``issuerRef.group`` is ``zerossl.issuer.dev`` becomes CertificateRequests, and an issued
request becomes the Certificate's Secret.

Each :meth:`CertificateStandIn.sync` decides from what the API server holds (nothing is kept in
memory, so a restart resumes where the last pass left off):

- the Secret is *current* when it holds ``tls.crt`` and ``tls.key``, its annotations name the
  Certificate's issuer, common name, DNS names and IP addresses, and the renewal time (see
  :func:`.certificate_spec.renewal_time`) has not come;
  then the Certificate is ``Ready=True`` and nothing else happens;
- otherwise revision ``n = status.revision + 1`` is issued through the CertificateRequest
  ``<name>-<n>`` (owned by the Certificate, with cert-manager's annotations): its key is kept
  in the Secret ``<name>-next-private-key`` until the request is Ready (so a retried request
  reuses it; ``rotationPolicy: Never`` reuses the current ``tls.key``), and its CSR carries
  ``commonName``, ``dnsNames`` and ``ipAddresses``;
- once that request is ``Ready=True`` the Secret gets ``tls.crt`` (the chain), ``tls.key`` and
  ``ca.crt`` (``status.ca``, or the chain's last certificate when the issuer leaves it empty,
  as this controller does) and the Certificate ``revision = n``;
- a request that failed or was denied stays: the Certificate says so (``Issuing=False``) and a
  new one is made only when that request is deleted.

Not done: cert-manager's backoff, ``revisionHistoryLimit``, URIs, emails, subject fields other
than the common name, key usages other than the default, secretTemplate, keystores.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from controller.sandbox.stack.cluster import (
    GROUP,
    REQUEST_API_VERSION,
    TERMINAL_REASONS,
    find_condition,
    now_rfc3339,
)
from controller.sandbox.stack.csr import csr_for_key
from controller.sandbox.stack.kubeapi import JSON, KubeAPI

from . import keys
from .certificate_spec import (
    ANNOTATION,
    CERTIFICATE_API_VERSION,
    REVISION_ANNOTATION,
    Wanted,
    renewal_time,
    stale_reason,
)

PEM: Final = serialization.Encoding.PEM


Condition = tuple[str, str, str, str]
"""(type, status, reason, message)"""
UP_TO_DATE: Final[Condition] = (
    "Ready",
    "True",
    "Ready",
    "Certificate is up to date and has not expired",
)


def with_conditions(
    current: Sequence[JSON], wanted: Sequence[Condition], generation: int, drop: Sequence[str] = ()
) -> list[JSON]:
    """``current`` with each of ``wanted`` set in place (lastTransitionTime kept unless the
    status changes) and the types in ``drop`` removed."""
    result = [dict(c) for c in current if c.get("type") not in drop]
    for kind, status, reason, message in wanted:
        old = next((c for c in result if c.get("type") == kind), None)
        entry = {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "observedGeneration": generation,
            "lastTransitionTime": (
                old["lastTransitionTime"]
                if old is not None and old.get("status") == status and old.get("lastTransitionTime")
                else now_rfc3339()
            ),
        }
        if old is None:
            result.append(entry)
        else:
            result[result.index(old)] = entry
    return result


def _decoded(data: JSON, key: str) -> bytes:
    return base64.b64decode(data[key])


def _encoded(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


class CertificateStandIn:
    """Syncs Certificates through ``kube`` (see the module doc)."""

    def __init__(self, kube: KubeAPI) -> None:
        self.kube = kube

    async def sync_all(self) -> list[str]:
        """One pass over every Certificate of ours; returns what it did, one line each."""
        done: list[str] = []
        for certificate in await self.kube.list_objects(CERTIFICATE_API_VERSION, "Certificate"):
            ref = (certificate.get("spec") or {}).get("issuerRef") or {}
            if ref.get("group") != GROUP or certificate["metadata"].get("deletionTimestamp"):
                continue
            if (line := await self.sync(certificate)) is not None:
                done.append(line)
        return done

    async def sync(self, certificate: JSON) -> str | None:
        """One step towards a current Secret; what it did, or None when it did nothing. What
        the spec or the issued data make impossible (a ValueError) is written to the
        Certificate as ``Issuing=False/Failed`` and reported once."""
        wanted = Wanted.of(certificate)
        try:
            return await self._step(certificate, wanted)
        except ValueError as exc:
            failed: Condition = ("Issuing", "False", "Failed", str(exc))
            changed = await self._set_status(certificate, [failed], {}, only_new=True)
            return f"Certificate {wanted.namespace}/{wanted.name}: {exc}" if changed else None

    async def _step(self, certificate: JSON, wanted: Wanted) -> str | None:
        where = f"Certificate {wanted.namespace}/{wanted.name}"
        secret = await self.kube.get("v1", "Secret", wanted.secret_name, wanted.namespace)
        if secret is None:
            reason = "DoesNotExist"
        else:
            stale = stale_reason(wanted, secret, datetime.now(UTC))
            if stale is None:
                issued = int(secret["metadata"]["annotations"].get(REVISION_ANNOTATION) or 0)
                revision = {"revision": max(issued, wanted.revision)}
                await self._set_status(certificate, [UP_TO_DATE], revision, ("Issuing",))
                return None
            reason = stale
        request = await self.kube.get(
            REQUEST_API_VERSION, "CertificateRequest", wanted.request_name, wanted.namespace
        )
        if request is None:
            return await self._request(certificate, wanted, secret, reason)
        ready = find_condition(request, "Ready") or {}
        if ready.get("status") == "True":
            return await self._store(certificate, wanted, request)
        if ready.get("reason") in TERMINAL_REASONS:
            message = (
                f"CertificateRequest {wanted.request_name} is {ready.get('reason')}: "
                f"{ready.get('message')}; delete it to try again"
            )
            if await self._set_status(
                certificate, [("Issuing", "False", "Failed", message)], {}, only_new=True
            ):
                return f"{where}: {message}"
        return None

    async def _request(
        self, certificate: JSON, wanted: Wanted, secret: JSON | None, reason: str
    ) -> str:
        where = f"Certificate {wanted.namespace}/{wanted.name}"
        csr = await self._csr(wanted, secret)
        spec: JSON = {
            "request": _encoded(csr),
            "issuerRef": wanted.issuer_ref,
            "usages": list(wanted.usages),
        }
        if wanted.duration:
            spec["duration"] = wanted.duration
        await self.kube.create(
            {
                "apiVersion": REQUEST_API_VERSION,
                "kind": "CertificateRequest",
                "metadata": {
                    "name": wanted.request_name,
                    "namespace": wanted.namespace,
                    "annotations": {
                        ANNOTATION + "certificate-name": wanted.name,
                        REVISION_ANNOTATION: str(wanted.revision + 1),
                        ANNOTATION + "private-key-secret-name": wanted.next_key_secret,
                    },
                    "ownerReferences": [wanted.owner()],
                },
                "spec": spec,
            }
        )
        created = f"CertificateRequest {wanted.namespace}/{wanted.request_name} created"
        conditions: list[Condition] = [("Issuing", "True", reason, f"Issuing: {reason}; {created}")]
        if reason != "Renewing":
            conditions.append(("Ready", "False", reason, f"Issuing certificate: {reason}"))
        await self._set_status(
            certificate, conditions, {"nextPrivateKeySecretName": wanted.next_key_secret}
        )
        return f"{where}: {created} ({reason})"

    async def _csr(self, wanted: Wanted, secret: JSON | None) -> bytes:
        if not (wanted.common_name or wanted.dns_names or wanted.ip_addresses):
            raise ValueError("spec names no commonName, dnsNames or ipAddresses")
        key_pem = await self._next_key(wanted, secret)
        key = keys.from_pem(key_pem)
        names = wanted.dns_names or ((wanted.common_name,) if wanted.common_name else ())
        return await asyncio.to_thread(
            csr_for_key, key, names, wanted.ip_addresses, wanted.common_name
        )

    async def _next_key(self, wanted: Wanted, secret: JSON | None) -> bytes:
        """The key of the next revision: the current one under ``rotationPolicy: Never``, else
        the one kept for this revision, else a new one (then kept)."""
        data = (secret or {}).get("data") or {}
        if wanted.private_key.get("rotationPolicy") == "Never" and data.get("tls.key"):
            return _decoded(data, "tls.key")
        kept = await self.kube.get("v1", "Secret", wanted.next_key_secret, wanted.namespace)
        if kept is not None:
            return _decoded(kept["data"], "tls.key")
        key = await asyncio.to_thread(keys.generate, wanted.private_key)
        pem = keys.to_pem(key, wanted.private_key)
        await self.kube.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": wanted.next_key_secret,
                    "namespace": wanted.namespace,
                    "labels": {ANNOTATION + "next-private-key": "true"},
                    "ownerReferences": [wanted.owner()],
                },
                "type": "Opaque",
                "data": {"tls.key": _encoded(pem)},
            }
        )
        return pem

    async def _store(self, certificate: JSON, wanted: Wanted, request: JSON) -> str:
        """The issued chain and its key into the Secret, then ``revision`` and ``Ready`` on the
        Certificate, then the kept key removed. A request whose key is lost is deleted (the
        next pass makes a new one with a new key)."""
        where = f"Certificate {wanted.namespace}/{wanted.name}"
        status = request.get("status") or {}
        chain_pem = _decoded(status, "certificate")
        chain = x509.load_pem_x509_certificates(chain_pem)
        key_pem = await self._key_of(wanted, chain[0])
        if key_pem is None:
            await self.kube.delete(
                REQUEST_API_VERSION, "CertificateRequest", wanted.request_name, wanted.namespace
            )
            return f"{where}: the key of {wanted.request_name} is lost; request deleted"
        ca_pem = _decoded(status, "ca") if status.get("ca") else chain[-1].public_bytes(PEM)
        revision = wanted.revision + 1
        await self.kube.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": wanted.secret_name,
                    "namespace": wanted.namespace,
                    "annotations": {
                        **wanted.secret_annotations(),
                        REVISION_ANNOTATION: str(revision),
                    },
                    "labels": {"controller.cert-manager.io/fao": "true"},
                },
                "type": "kubernetes.io/tls",
                "data": {
                    "tls.crt": _encoded(chain_pem),
                    "tls.key": _encoded(key_pem),
                    "ca.crt": _encoded(ca_pem),
                },
            }
        )
        leaf = chain[0]
        fields = {
            "revision": revision,
            "notBefore": _rfc3339(leaf.not_valid_before_utc),
            "notAfter": _rfc3339(leaf.not_valid_after_utc),
            "renewalTime": _rfc3339(renewal_time(leaf, wanted.renew_before)),
            "nextPrivateKeySecretName": None,
        }
        await self._set_status(certificate, [UP_TO_DATE], fields, ("Issuing",))
        await self.kube.delete("v1", "Secret", wanted.next_key_secret, wanted.namespace)
        return (
            f"{where}: Secret {wanted.namespace}/{wanted.secret_name} written (revision {revision})"
        )

    async def _key_of(self, wanted: Wanted, leaf: x509.Certificate) -> bytes | None:
        """The kept or current key whose public half is ``leaf``'s, if any."""
        for name in (wanted.next_key_secret, wanted.secret_name):
            secret = await self.kube.get("v1", "Secret", name, wanted.namespace)
            data = (secret or {}).get("data") or {}
            if not data.get("tls.key"):
                continue
            pem = _decoded(data, "tls.key")
            if keys.public_der(keys.from_pem(pem)) == keys.public_der(leaf.public_key()):
                return pem
        return None

    async def _set_status(
        self,
        certificate: JSON,
        conditions: Sequence[Condition],
        fields: JSON,
        drop: Sequence[str] = (),
        *,
        only_new: bool = False,
    ) -> bool:
        """Merge ``fields`` and ``conditions`` into the Certificate's status; a no-op (False)
        when nothing would change. ``only_new``: also when only timestamps would."""
        meta, status = certificate["metadata"], certificate.get("status") or {}
        current = status.get("conditions") or []
        updated = with_conditions(current, conditions, int(meta.get("generation") or 0), drop)
        if updated == current and all(status.get(k) == v for k, v in fields.items()):
            return False
        if only_new and _same_reasons(updated, current):
            return False
        await self.kube.merge_patch(
            {
                "apiVersion": CERTIFICATE_API_VERSION,
                "kind": "Certificate",
                "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
                "status": {**fields, "conditions": updated},
            },
            subresource="status",
        )
        return True


def _same_reasons(a: Sequence[JSON], b: Sequence[JSON]) -> bool:
    def shape(conditions: Sequence[JSON]) -> set[tuple[str, str, str, str]]:
        return {(c["type"], c["status"], c["reason"], c["message"]) for c in conditions}

    return shape(a) == shape(b)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
