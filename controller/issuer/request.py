"""A cert-manager CertificateRequest as the reconciler reads it (cert-manager.io/v1).

Invariants: built from the raw JSON object without raising (missing fields read as empty);
``spec.request`` is kept as the base64 text of the JSON (``format: byte``) and decoded only by
:meth:`CertificateRequest.csr_pem`, which returns None when it is not base64.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.issuer.api import ForeignRef, IssuerRef, UnknownKind, resolve_issuer_ref
from controller.issuer.jsonfields import as_dict


@dataclass(frozen=True, slots=True)
class CertificateRequest:
    namespace: str
    name: str
    uid: str
    issuer_group: str
    issuer_kind: str
    issuer_name: str
    request: str
    labels: Mapping[str, str] = field(default_factory=dict)
    is_ca: bool = False
    conditions: tuple[Mapping[str, Any], ...] = ()
    failure_time: str | None = None

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> CertificateRequest:
        meta, spec, status = (as_dict(obj.get(k)) for k in ("metadata", "spec", "status"))
        ref = as_dict(spec.get("issuerRef"))
        conditions = status.get("conditions")
        return cls(
            namespace=str(meta.get("namespace") or ""),
            name=str(meta.get("name") or ""),
            uid=str(meta.get("uid") or ""),
            issuer_group=str(ref.get("group") or ""),
            issuer_kind=str(ref.get("kind") or ""),
            issuer_name=str(ref.get("name") or ""),
            request=str(spec.get("request") or ""),
            labels={str(k): str(v) for k, v in as_dict(meta.get("labels")).items()},
            is_ca=spec.get("isCA") is True,
            conditions=tuple(c for c in conditions or () if isinstance(c, dict)),
            failure_time=status.get("failureTime") or None,
        )

    @property
    def issuer_ref(self) -> IssuerRef | ForeignRef | UnknownKind:
        return resolve_issuer_ref(
            self.issuer_group, self.issuer_kind, self.issuer_name, self.namespace
        )

    def csr_pem(self) -> bytes | None:
        """The PEM CSR, or None when ``spec.request`` is not valid base64."""
        try:
            return base64.b64decode(self.request, validate=True)
        except (binascii.Error, ValueError):
            return None
