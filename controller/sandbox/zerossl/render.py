"""JSON shapes of the API answers, typed like the real API (``type`` and list ``page`` as the
docs show them, timestamps ``YYYY-MM-DD HH:MM:SS`` UTC, ``success: 1`` on actions)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from controller.sandbox.zerossl.model import Certificate
from controller.sandbox.zerossl.names import admin_emails, base_domain, is_ip

SUCCESS: dict[str, object] = {"success": 1}


def timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def certificate_json(certificate: Certificate) -> dict[str, object]:
    issued = certificate.issued
    return {
        "id": certificate.id,
        "type": certificate.type_id,
        "common_name": certificate.common_name,
        "additional_domains": ",".join(certificate.domains[1:]),
        "created": timestamp(certificate.created),
        "expires": timestamp(certificate.expires),
        "status": str(certificate.status),
        "validation_type": str(certificate.validation_type)
        if certificate.validation_type
        else None,
        "validation_emails": ",".join(certificate.validation_emails) or None,
        "replacement_for": certificate.replacement_for,
        "fingerprint_sha1": issued.fingerprint_sha1 if issued else None,
        "brand_validation": None,
        "signature_algorithm_properties": issued.signature_algorithm_properties if issued else None,
        "validation": validation_json(certificate),
    }


def validation_json(certificate: Certificate) -> dict[str, object]:
    dcv = certificate.dcv
    emails = {d: admin_emails(d) for d in certificate.domains if not is_ip(d)}
    other = {
        domain: {
            "file_validation_url_http": dcv.file_url(domain, "http"),
            "file_validation_url_https": dcv.file_url(domain, "https"),
            "file_validation_content": list(dcv.file_lines),
            "cname_validation_p1": dcv.cname_name(base_domain(domain)),
            "cname_validation_p2": dcv.cname_target,
        }
        for domain in certificate.domains
    }
    return {"email_validation": emails, "other_methods": other}


def email_status_json(certificate: Certificate) -> dict[str, object]:
    """The ``/status`` answer of an EMAIL-validated certificate."""
    details = {
        domain: {
            "method": email,
            "status": "Approved" if domain in certificate.approved_domains else "Email Sent",
        }
        for domain, email in zip(certificate.domains, certificate.validation_emails, strict=True)
    }
    completed = len(certificate.approved_domains) == len(certificate.domains)
    return {"validation_completed": int(completed), "details": details}


def list_json(
    page: Sequence[Certificate], *, total: int, page_number: int, limit: int
) -> dict[str, object]:
    return {
        "total_count": total,
        "result_count": len(page),
        "page": page_number,
        "limit": limit,
        "acmeUsageLevel": "LOW",
        "isAcmeLocked": False,
        "results": [certificate_json(c) for c in page],
    }
