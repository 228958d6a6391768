"""What a cert-manager ``Certificate`` asks for, and whether its Secret still satisfies it:
pure functions of the objects read (no API calls), for :mod:`.certificates`."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from cryptography import x509

from controller.sandbox.stack.csr import DEFAULT_USAGES
from controller.sandbox.stack.kubeapi import JSON

CERTIFICATE_API_VERSION: Final = "cert-manager.io/v1"
ANNOTATION: Final = "cert-manager.io/"
REVISION_ANNOTATION: Final = ANNOTATION + "certificate-revision"
NEXT_KEY_SUFFIX: Final = "-next-private-key"
_DURATION_PART: Final = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_UNIT_SECONDS: Final = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def go_duration(text: str) -> timedelta:
    """A Go duration such as ``720h`` or ``1h30m``; ValueError for anything else."""
    parts = _DURATION_PART.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{text!r} is not a duration such as 720h or 1h30m")
    return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u] for n, u in parts))


@dataclass(frozen=True, slots=True)
class Wanted:
    """What a Certificate asks for, read from its spec."""

    namespace: str
    name: str
    uid: str
    generation: int
    secret_name: str
    common_name: str | None
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    issuer_ref: JSON
    private_key: JSON
    usages: tuple[str, ...]
    duration: str | None
    renew_before: str | None
    revision: int

    @classmethod
    def of(cls, certificate: JSON) -> Wanted:
        meta, spec = certificate["metadata"], certificate["spec"]
        return cls(
            namespace=meta["namespace"],
            name=meta["name"],
            uid=meta.get("uid", ""),
            generation=int(meta.get("generation") or 0),
            secret_name=spec["secretName"],
            common_name=spec.get("commonName"),
            dns_names=tuple(spec.get("dnsNames") or ()),
            ip_addresses=tuple(spec.get("ipAddresses") or ()),
            issuer_ref=dict(spec["issuerRef"]),
            private_key=dict(spec.get("privateKey") or {}),
            usages=tuple(spec.get("usages") or DEFAULT_USAGES),
            duration=spec.get("duration"),
            renew_before=spec.get("renewBefore"),
            revision=int((certificate.get("status") or {}).get("revision") or 0),
        )

    @property
    def next_key_secret(self) -> str:
        """Where the next revision's key is kept until it is issued."""
        return self.name + NEXT_KEY_SUFFIX

    @property
    def request_name(self) -> str:
        """The CertificateRequest of the next revision."""
        return f"{self.name}-{self.revision + 1}"

    def secret_annotations(self) -> dict[str, str]:
        """cert-manager's annotations on the Secret: what it was issued for."""
        return {
            ANNOTATION + "certificate-name": self.name,
            ANNOTATION + "issuer-name": str(self.issuer_ref.get("name", "")),
            ANNOTATION + "issuer-kind": str(self.issuer_ref.get("kind", "")),
            ANNOTATION + "issuer-group": str(self.issuer_ref.get("group", "")),
            ANNOTATION + "common-name": self.common_name or "",
            ANNOTATION + "alt-names": ",".join(self.dns_names),
            ANNOTATION + "ip-sans": ",".join(self.ip_addresses),
        }

    def owner(self) -> JSON:
        return {
            "apiVersion": CERTIFICATE_API_VERSION,
            "kind": "Certificate",
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def renewal_time(leaf: x509.Certificate, renew_before: str | None) -> datetime:
    """When cert-manager would renew ``leaf``: ``renew_before`` ahead of its end, or a third of
    its lifetime ahead when that is unset or not shorter than the lifetime."""
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    before = go_duration(renew_before) if renew_before else lifetime
    return leaf.not_valid_after_utc - (before if before < lifetime else lifetime / 3)


def stale_reason(wanted: Wanted, secret: JSON, now: datetime) -> str | None:
    """Why the Secret must be reissued (a cert-manager Issuing reason), or None if current."""
    data = secret.get("data") or {}
    if not data.get("tls.crt") or not data.get("tls.key"):
        return "MissingData"
    annotations = secret["metadata"].get("annotations") or {}
    if any(annotations.get(k) != v for k, v in wanted.secret_annotations().items()):
        return "SecretMismatch"
    try:
        leaf = x509.load_pem_x509_certificates(base64.b64decode(data["tls.crt"]))[0]
    except ValueError:
        return "InvalidCertificate"
    return "Renewing" if now >= renewal_time(leaf, wanted.renew_before) else None
