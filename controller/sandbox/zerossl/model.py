"""The emulator's state: accounts with plans, certificates (orders) and their validation values.

Invariant: a certificate sits in exactly one status bucket of its account, the one named by its
``status``; :meth:`Account.move` is the only way a status changes, so quota counts stay exact.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from controller.sandbox.zerossl.ca import IssuedCertificate
from controller.sandbox.zerossl.csr import Csr
from controller.sandbox.zerossl.names import base_domain, is_wildcard


class Status(StrEnum):
    DRAFT = "draft"
    PENDING_VALIDATION = "pending_validation"
    ISSUED = "issued"
    CANCELLED = "cancelled"
    REVOKED = "revoked"
    EXPIRED = "expired"


class ValidationMethod(StrEnum):
    EMAIL = "EMAIL"
    CNAME_CSR_HASH = "CNAME_CSR_HASH"
    HTTP_CSR_HASH = "HTTP_CSR_HASH"
    HTTPS_CSR_HASH = "HTTPS_CSR_HASH"


QUOTA_STATUSES = frozenset({Status.DRAFT, Status.PENDING_VALIDATION, Status.ISSUED, Status.REVOKED})
"""Statuses using quota on every plan (cancel frees, revoke does not); free plans add expired."""


def account_hash(access_key: str) -> str:
    """The account's public identifier in logs and dumps (never the key itself)."""
    return hashlib.sha256(access_key.encode()).hexdigest()[:16]


@dataclass(slots=True)
class Account:
    """One access key. ``quota`` None means unlimited; free plans also count expired certificates
    and cannot order 1-year certificates."""

    id: str
    quota: int | None
    paid: bool
    active: bool
    buckets: dict[Status, dict[str, Certificate]] = field(
        default_factory=lambda: {status: {} for status in Status}
    )

    def used_quota(self) -> int:
        counted = QUOTA_STATUSES if self.paid else QUOTA_STATUSES | {Status.EXPIRED}
        return sum(len(self.buckets[status]) for status in counted)

    def total(self) -> int:
        return sum(len(bucket) for bucket in self.buckets.values())

    def add(self, certificate: Certificate) -> None:
        self.buckets[certificate.status][certificate.id] = certificate

    def move(self, certificate: Certificate, status: Status) -> None:
        del self.buckets[certificate.status][certificate.id]
        certificate.status = status
        self.buckets[status][certificate.id] = certificate


@dataclass(frozen=True, slots=True)
class DcvValues:
    """The CSR-hash validation values of one order (``unique_value`` differs per order)."""

    md5: str
    sha256: str
    unique_value: str

    @property
    def file_lines(self) -> tuple[str, str, str]:
        return (self.sha256, "comodoca.com", self.unique_value)

    @property
    def file_content(self) -> str:
        return "\n".join(self.file_lines)

    @property
    def cname_target(self) -> str:
        """``cname_validation_p2``."""
        return f"{self.sha256[:32]}.{self.sha256[32:]}.{self.unique_value}.comodoca.com"

    def file_url(self, domain: str, scheme: str = "http") -> str:
        return f"{scheme}://{base_domain(domain)}/.well-known/pki-validation/{self.md5}.txt"

    def cname_name(self, adn: str) -> str:
        """``cname_validation_p1`` for an authorization domain name."""
        return f"_{self.md5}.{adn}"


@dataclass(slots=True)
class Certificate:
    """One ZeroSSL certificate (order). Mutated only on the event loop; status via the account."""

    id: str
    seq: int
    account: Account
    domains: tuple[str, ...]
    csr: Csr
    validity_days: int
    created: datetime
    expires: datetime
    dcv: DcvValues
    replacement_for: str = ""
    replaced_by: str = ""
    status: Status = Status.DRAFT
    validation_type: ValidationMethod | None = None
    validation_emails: tuple[str, ...] = ()
    approved_domains: set[str] = field(default_factory=set)
    emails_sent: int = 0
    issuance_scheduled: bool = False
    issued: IssuedCertificate | None = None

    @property
    def common_name(self) -> str:
        return self.domains[0]

    @property
    def type_id(self) -> str:
        """The certificate ``type``: 1/2/3 = 90-day single/wildcard/multi, 4/5/6 = 1-year."""
        if is_wildcard(self.domains[0]):
            kind = 2
        elif len(self.domains) > 1:
            kind = 3
        else:
            kind = 1
        return str(kind + (3 if self.validity_days == 365 else 0))
