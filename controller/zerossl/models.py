"""ZeroSSL API models: frozen dataclasses built by a tolerant reader.

Invariants: unknown fields are ignored and unknown enum values are kept (``UNKNOWN`` plus the
raw text), so ZeroSSL adding fields or statuses never breaks parsing; nulls, empty strings and
``[]``-for-``{}`` are tolerated; timestamps are aware UTC. Only a missing identity (a
certificate without ``id``, a bundle without ``certificate.crt``) raises
:class:`ResponseShapeError`, because nothing sensible can be built from it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from controller.zerossl.fields import as_bool, as_csv, as_dict, as_int, as_str, as_time


class ResponseShapeError(ValueError):
    """A successful-looking response lacks what every such response must have."""


class CertificateStatus(StrEnum):
    DRAFT = "draft"
    PENDING_VALIDATION = "pending_validation"
    ISSUED = "issued"
    CANCELLED = "cancelled"
    REVOKED = "revoked"
    EXPIRED = "expired"
    EXPIRING_SOON = "expiring_soon"  # a list filter; possibly also a status
    DELETED = "deleted"  # in ZeroSSL's own CLI
    UNKNOWN = "unknown"  # anything else ZeroSSL may add

    @classmethod
    def parse(cls, value: Any) -> CertificateStatus:
        text = (as_str(value) or "").strip().lower()
        try:
            return cls(text)
        except ValueError:
            return cls.UNKNOWN

    @property
    def unfinished(self) -> bool:
        """Still counts against the quota and can be cancelled."""
        return self in (CertificateStatus.DRAFT, CertificateStatus.PENDING_VALIDATION)

    @property
    def final(self) -> bool:
        """Can never become issued again."""
        return self in _FINAL


_FINAL = frozenset(
    {
        CertificateStatus.CANCELLED,
        CertificateStatus.REVOKED,
        CertificateStatus.EXPIRED,
        CertificateStatus.DELETED,
    }
)


class ValidationMethod(StrEnum):
    EMAIL = "EMAIL"
    CNAME_CSR_HASH = "CNAME_CSR_HASH"
    HTTP_CSR_HASH = "HTTP_CSR_HASH"
    HTTPS_CSR_HASH = "HTTPS_CSR_HASH"


class RevocationReason(StrEnum):
    """Spelled as ZeroSSL's documentation spells them."""

    UNSPECIFIED = "Unspecified"
    KEY_COMPROMISE = "keyCompromise"
    AFFILIATION_CHANGED = "affiliationChanged"
    SUPERSEDED = "Superseded"
    CESSATION_OF_OPERATION = "cessationOfOperation"


@dataclass(frozen=True, slots=True)
class DomainValidation:
    """How one domain can be validated: email addresses, file (HTTP/HTTPS) or CNAME."""

    domain: str
    emails: tuple[str, ...] = ()
    file_url_http: str | None = None
    file_url_https: str | None = None
    file_content: tuple[str, ...] = ()
    cname_name: str | None = None  # cname_validation_p1, e.g. "_<MD5>.example.com"
    cname_target: str | None = None  # cname_validation_p2, "<sha>.<sha>.<unique>.comodoca.com"

    @property
    def file_body(self) -> str:
        """What the validation file must contain: the content lines joined by newlines."""
        return "\n".join(self.file_content)

    @property
    def file_path(self) -> str | None:
        """The URL path of the validation file, e.g. /.well-known/pki-validation/<MD5>.txt."""
        url = self.file_url_http or self.file_url_https
        return urlsplit(url).path if url else None

    @property
    def csr_md5(self) -> str | None:
        """The CSR's MD5 as ZeroSSL embeds it in the file name (or else the CNAME name)."""
        if (path := self.file_path) and (match := _FILE_NAME.search(path)):
            return match.group(1).upper()
        if self.cname_name and (match := _CNAME_LABEL.match(self.cname_name)):
            return match.group(1).upper()
        return None

    @classmethod
    def from_json(cls, domain: str, other: Mapping[str, Any], emails: Any) -> DomainValidation:
        return cls(
            domain=domain,
            emails=as_csv(emails),
            file_url_http=as_str(other.get("file_validation_url_http")),
            file_url_https=as_str(other.get("file_validation_url_https")),
            file_content=_lines(other.get("file_validation_content")),
            cname_name=as_str(other.get("cname_validation_p1")),
            cname_target=as_str(other.get("cname_validation_p2")),
        )


_FILE_NAME = re.compile(r"/([0-9A-Fa-f]{32})\.txt$")
_CNAME_LABEL = re.compile(r"^_([0-9A-Fa-f]{32})(?:\.|$)")


def _lines(value: Any) -> tuple[str, ...]:
    """File content: a JSON list of lines (or one newline-separated string)."""
    if isinstance(value, str):
        return tuple(value.splitlines())
    if isinstance(value, list):
        return tuple(as_str(item) or "" for item in value)
    return ()


@dataclass(frozen=True, slots=True)
class Certificate:
    """A ZeroSSL certificate as get, list, create and verify return it."""

    id: str
    status: CertificateStatus
    status_text: str  # the raw status, kept when ``status`` is UNKNOWN
    common_name: str | None = None
    additional_domains: tuple[str, ...] = ()
    type: str | None = None
    created: datetime | None = None
    expires: datetime | None = None
    validation_type: str | None = None
    validation_emails: tuple[str, ...] = ()
    replacement_for: str | None = None
    fingerprint_sha1: str | None = None
    signature_algorithm: str | None = None
    validations: tuple[DomainValidation, ...] = ()

    @property
    def domains(self) -> tuple[str, ...]:
        """Common name first, then the additional domains, without repeats."""
        names = self.additional_domains
        if self.common_name:
            names = (self.common_name, *names)
        return tuple(dict.fromkeys(names))

    def validation_for(self, domain: str) -> DomainValidation | None:
        wanted = domain.lower()
        return next((v for v in self.validations if v.domain.lower() == wanted), None)

    @property
    def csr_md5(self) -> str | None:
        """The MD5 of the CSR this certificate was created from, read from its validation data.

        This is how a draft is matched to its CSR after a crash (see ``csr.matches_csr``).
        """
        return next((md5 for v in self.validations if (md5 := v.csr_md5)), None)

    @classmethod
    def from_json(cls, data: Any) -> Certificate:
        body = as_dict(data)
        cert_id = as_str(body.get("id"))
        if not cert_id:
            raise ResponseShapeError("certificate object without an id")
        validation = as_dict(body.get("validation"))
        emails = as_dict(validation.get("email_validation"))
        others = as_dict(validation.get("other_methods"))
        domains = dict.fromkeys([*others, *emails])
        return cls(
            id=cert_id,
            status=CertificateStatus.parse(body.get("status")),
            status_text=as_str(body.get("status")) or "",
            common_name=as_str(body.get("common_name")),
            additional_domains=as_csv(body.get("additional_domains")),
            type=as_str(body.get("type")),
            created=as_time(body.get("created")),
            expires=as_time(body.get("expires")),
            validation_type=as_str(body.get("validation_type")),
            validation_emails=as_csv(body.get("validation_emails")),
            replacement_for=as_str(body.get("replacement_for")),
            fingerprint_sha1=as_str(body.get("fingerprint_sha1")),
            signature_algorithm=as_str(body.get("signature_algorithm_properties")),
            validations=tuple(
                DomainValidation.from_json(d, as_dict(others.get(d)), emails.get(d))
                for d in domains
            ),
        )


@dataclass(frozen=True, slots=True)
class CertificatePage:
    """One page of a list call."""

    results: tuple[Certificate, ...]
    total_count: int
    page: int
    limit: int

    @property
    def has_more(self) -> bool:
        return bool(self.results) and self.page * self.limit < self.total_count

    @classmethod
    def from_json(cls, data: Any, *, page: int, limit: int) -> CertificatePage:
        body = as_dict(data)
        raw = body.get("results")
        items = raw if isinstance(raw, list) else []
        # Entries without an id cannot be acted on; they are skipped, not fatal to the page.
        results = tuple(
            Certificate.from_json(item)
            for item in items
            if isinstance(item, dict) and as_str(item.get("id"))
        )
        return cls(
            results=results,
            total_count=as_int(body.get("total_count"), len(results)),
            page=as_int(body.get("page"), page) or page,
            limit=as_int(body.get("limit"), limit) or limit,
        )


@dataclass(frozen=True, slots=True)
class EmailValidationState:
    domain: str
    method: str | None  # the address the mail went to
    status: str | None  # e.g. "Email Sent"


@dataclass(frozen=True, slots=True)
class VerificationStatus:
    """The email-validation status of a certificate."""

    completed: bool
    domains: tuple[EmailValidationState, ...] = ()

    @classmethod
    def from_json(cls, data: Any) -> VerificationStatus:
        body = as_dict(data)
        details = as_dict(body.get("details"))
        return cls(
            completed=as_bool(body.get("validation_completed")),
            domains=tuple(
                EmailValidationState(
                    domain=domain,
                    method=as_str(as_dict(entry).get("method")),
                    status=as_str(as_dict(entry).get("status")),
                )
                for domain, entry in details.items()
            ),
        )


_PEM_BLOCK = re.compile(
    r"-----BEGIN CERTIFICATE-----\s+[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----"
)


def pem_blocks(text: str) -> tuple[str, ...]:
    """Each CERTIFICATE block in ``text``, normalised to LF line ends and one final newline."""
    return tuple(
        "\n".join(line.strip() for line in block.strip().splitlines() if line.strip()) + "\n"
        for block in _PEM_BLOCK.findall(text)
    )


@dataclass(frozen=True, slots=True)
class CertificateBundle:
    """The inline download: the leaf (certificate.crt) and the intermediates (ca_bundle.crt)."""

    certificate: str
    ca_bundle: str

    def chain_pem(self) -> str:
        """Leaf then intermediates, each block ending in exactly one newline."""
        return "".join((*pem_blocks(self.certificate), *pem_blocks(self.ca_bundle)))

    @classmethod
    def from_json(cls, data: Any) -> CertificateBundle:
        body = as_dict(data)
        certificate = as_str(body.get("certificate.crt")) or ""
        if not pem_blocks(certificate):
            raise ResponseShapeError("download without a PEM certificate.crt")
        return cls(certificate=certificate, ca_bundle=as_str(body.get("ca_bundle.crt")) or "")


@dataclass(frozen=True, slots=True)
class CsrCheck:
    """The answer of /validation/csr: whether ZeroSSL can decode and accept the CSR."""

    valid: bool
    error: str | None = None
    properties: tuple[str, ...] = ()  # e.g. ("2048", "sigalg=sha256WithRSAEncryption")

    @classmethod
    def from_json(cls, data: Any) -> CsrCheck:
        body = as_dict(data)
        raw = body.get("csrResponse")
        return cls(
            valid=as_bool(body.get("valid")),
            error=(as_str(body.get("error")) or "").strip() or None,
            properties=tuple(as_str(x) or "" for x in raw) if isinstance(raw, list) else (),
        )
