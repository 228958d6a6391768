"""ZeroSSL errors, classified once, in one table.

Invariants:
- Every failure of a ZeroSSL call surfaces as :class:`ZeroSSLError` carrying ``kind`` (what the
  caller should do), ``code``/``type``/``details`` (what ZeroSSL said), ``endpoint`` and
  ``http_status``; ``str()`` is informative and passed through ``redact_text``, so it never
  shows the access key.
- :func:`classify` is the only place that turns (code, type) into an :class:`ErrorKind`. The
  type wins over the code because ZeroSSL's codes are inconsistent (2834 arrives with the type
  of 2833; 2841 names two different errors); a code whose rows disagree is ambiguous and falls
  to the default. Unknown errors are RETRYABLE: retried with backoff, never made terminal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from controller.observability.redact import redact_text
from controller.zerossl.dcv import describe_details


class ErrorKind(StrEnum):
    """What the caller should do about an error; the value is the metric outcome label."""

    PERMANENT = "permanent"  # this request can never succeed as made
    RETRYABLE = "retryable"  # transient: try again later with backoff
    ISSUER = "issuer"  # the account is unusable: bad or inactive key, unpaid invoices
    QUOTA = "quota"  # the account's certificate quota is used up (2817)
    NOT_YET = "not_yet"  # validation did not pass yet (records, propagation, CAA): retry later
    THROTTLED = "throttled"  # ZeroSSL asked us to slow down (HTTP 429, Retry-After)


@dataclass(frozen=True, slots=True)
class ErrorRule:
    """One documented (or observed) ZeroSSL error: its kind and a hint for humans."""

    code: int
    type: str
    kind: ErrorKind
    hint: str = ""


_P, _R, _I, _Q, _N = (
    ErrorKind.PERMANENT,
    ErrorKind.RETRYABLE,
    ErrorKind.ISSUER,
    ErrorKind.QUOTA,
    ErrorKind.NOT_YET,
)
_CAA_HINT = "CAA records must allow sectigo.com (issue, and issuewild for wildcards)"

RULES: tuple[ErrorRule, ...] = (
    ErrorRule(0, "domain_control_validation_failed", _N, "domain control validation failed"),
    ErrorRule(101, "invalid_access_key", _I, "the ZeroSSL API key is invalid"),
    ErrorRule(102, "inactive_user", _I, "the ZeroSSL account is not active"),
    # 103 is also what ZeroSSL answers when the access key is missing.
    ErrorRule(103, "invalid_api_function", _I, "the API key is missing or not allowed here"),
    ErrorRule(104, "route_not_found", _P, "no such endpoint or wrong HTTP method"),
    ErrorRule(110, "invalid_request_body", _P),
    ErrorRule(111, "internal_server_error", _R),
    ErrorRule(112, "conflict", _R, "the certificate cannot be modified right now"),
    ErrorRule(113, "unprocessable_entity", _P),
    ErrorRule(114, "conflict", _R, "the certificate cannot be modified right now"),
    ErrorRule(115, "invalid_json_request", _P),
    ErrorRule(116, "invalid_json_request_param", _P),
    ErrorRule(2800, "incorrect_request_type", _P),
    ErrorRule(2801, "permission_denied", _P, "the certificate belongs to another account"),
    ErrorRule(2802, "missing_certificate_hash", _P),
    ErrorRule(2803, "certificate_not_found", _P, "no such certificate in this account"),
    ErrorRule(2804, "cannot_issue_certificate_unpaid_upgrade_invoices", _I, "unpaid invoices"),
    ErrorRule(2805, "invalid_certificate_type", _P),
    ErrorRule(2806, "missing_certificate_type", _P),
    ErrorRule(2807, "invalid_certificate_validity", _P, "validity must be 90 or 365 days"),
    ErrorRule(2808, "invalid_certificate_domain", _P),
    ErrorRule(
        2809,
        "wildcard_domains_not_allowed_in_multidomain_certificate",
        _P,
        "a wildcard name must be the only name in the certificate",
    ),
    ErrorRule(2810, "invalid_domains_in_multidomain_request", _P),
    ErrorRule(2811, "duplicate_domains_in_array", _P, "a domain is listed twice"),
    ErrorRule(2812, "missing_certificate_domains", _P),
    ErrorRule(2813, "cannot_replace_certificate_other_replacement_in_draft", _P),
    ErrorRule(2814, "permission_denied_on_original_certificate", _P),
    ErrorRule(2815, "original_certificate_not_active", _P),
    ErrorRule(2816, "cannot_find_original_certificate", _P),
    ErrorRule(2817, "certificate_limit_reached", _Q, "the account's certificate quota is used up"),
    ErrorRule(2818, "invalid_certificate_csr", _P, "ZeroSSL rejected the CSR"),
    ErrorRule(
        28181,
        "invalid_certificate_csr_for_non_wildcard",
        _P,
        "the CSR common name is a wildcard but the certificate is not",
    ),
    ErrorRule(
        28182,
        "invalid_certificate_csr_for_wildcard",
        _P,
        "a wildcard certificate needs the wildcard as the CSR common name",
    ),
    ErrorRule(2819, "missing_certificate_csr", _P),
    ErrorRule(2820, "internal_error_failed_processing_csr", _R),
    ErrorRule(2821, "internal_error_failed_creating_certificate", _R),
    ErrorRule(2822, "failed_showing_certificate", _R),
    ErrorRule(
        2823,
        "failed_validating_certificate",
        _P,
        "restricted TLD, a name longer than about 62 characters, or a compromised key",
    ),
    ErrorRule(2824, "missing_validation_emails", _P, "one validation email per domain needed"),
    ErrorRule(2825, "missing_validation_email", _P, "one validation email per domain needed"),
    ErrorRule(2826, "internal_error_while_valdating_domain_control", _R),
    ErrorRule(2827, "invalid_validation_method", _P),
    ErrorRule(2828, "missing_validation_method", _P),
    ErrorRule(2829, "incorrect_certificate_validation_type", _P),
    ErrorRule(2830, "certificate_not_eligible", _P),
    ErrorRule(2831, "certificate_not_ready_to_validate", _N, "not ready to validate yet"),
    ErrorRule(2832, "certificate_not_issued", _N, "the certificate is not issued yet"),
    ErrorRule(2833, "certificate_cannot_be_cancelled", _P, "only drafts/pending can be cancelled"),
    ErrorRule(2834, "failed_cancelling_certificate", _R),
    ErrorRule(2835, "certificate_cannot_be_deleted", _P),
    ErrorRule(2836, "csr_cn_is_invalid", _P, "the CSR common name must be the first domain"),
    ErrorRule(2837, "failed_resending_email", _R),
    ErrorRule(2838, "failed_getting_validation_status", _P, "not an email-validated certificate"),
    ErrorRule(
        2839,
        "duplicate_certificates_found",
        _P,
        "the Free plan cannot protect this domain again; a Basic plan is required",
    ),
    ErrorRule(2840, "invalid_caa_records_detected", _N, _CAA_HINT),
    # ZeroSSL documents 2841 twice; only the type tells them apart.
    ErrorRule(2841, "certificate_creation_locked_unpaid_invoices", _I, "unpaid invoices"),
    ErrorRule(2841, "caa_record_check_failed", _N, _CAA_HINT),
    ErrorRule(2842, "replacement_needs_same_common_name", _P),
    ErrorRule(2843, "ipv6_is_not_yet_supported", _P, "ZeroSSL does not issue for IPv6"),
    ErrorRule(2860, "certificate_not_downloadable", _R),
    ErrorRule(2874, "certificate_restricted_top_level_domain", _P, "restricted TLD"),
    ErrorRule(2875, "certificate_premium_not_allowed", _I, "unpaid invoices or plan change"),
    ErrorRule(2877, "certificate_unsupported_top_level_domain", _P, "unsupported TLD"),
    ErrorRule(2880, "invalid_san", _P, "too many names or characters in the certificate"),
    ErrorRule(2906, "revocation_failed", _R),
    ErrorRule(2907, "certificate_not_in_revocable_state", _P),
    ErrorRule(2908, "certificate_revocation_temporarily_blocked", _R, "retry hours later"),
    ErrorRule(2909, "certificate_not_revocable_being_issued", _N, "still being issued"),
    ErrorRule(2910, "certificate_not_revocable_already_replaced", _P),
)

_BY_TYPE: dict[str, ErrorRule] = {rule.type: rule for rule in RULES}


def _unambiguous_codes() -> dict[int, ErrorRule]:
    kinds: dict[int, set[ErrorKind]] = {}
    for rule in RULES:
        kinds.setdefault(rule.code, set()).add(rule.kind)
    return {rule.code: rule for rule in RULES if len(kinds[rule.code]) == 1}


_BY_CODE: dict[int, ErrorRule] = _unambiguous_codes()


def rule_for(code: int | None, type_: str) -> ErrorRule | None:
    """The table row for an error: by type first, then by code; None if unknown."""
    return _BY_TYPE.get(type_) or (_BY_CODE.get(code) if code is not None else None)


def classify(code: int | None, type_: str) -> ErrorKind:
    """The kind of a ZeroSSL API error; unknown errors are retryable."""
    rule = rule_for(code, type_)
    return rule.kind if rule is not None else ErrorKind.RETRYABLE


class ZeroSSLError(Exception):
    """A failed ZeroSSL call. ``str()`` is redacted; attributes hold what ZeroSSL said."""

    def __init__(
        self,
        kind: ErrorKind,
        *,
        endpoint: str,
        code: int | None = None,
        type_: str = "",
        details: Mapping[str, Any] | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
        certificate_id: str | None = None,
        message: str = "",
    ) -> None:
        self.kind = kind
        self.endpoint = endpoint
        self.code = code
        self.type = type_
        self.details: Mapping[str, Any] = details or {}
        self.http_status = http_status
        self.retry_after = retry_after
        self.certificate_id = certificate_id
        self.message = redact_text(message)
        super().__init__(self._describe())

    @property
    def hint(self) -> str:
        """ZeroSSL's meaning of this error in plain words ("" when not in the table)."""
        rule = rule_for(self.code, self.type)
        return rule.hint if rule is not None else ""

    @property
    def explanation(self) -> str:
        """A short message for conditions and Events: the hint, then one clause per domain."""
        per_domain = describe_details(self.type, self.details)
        head = self.message or self.hint or f"error {self.code} {self.type}".strip()
        return redact_text("; ".join((head, *per_domain)))

    def _describe(self) -> str:
        parts = [f"zerossl {self.endpoint}: {self.kind}"]
        if self.code is not None or self.type:
            parts.append(f"error {self.code} {self.type}".rstrip())
        if self.http_status is not None:
            parts.append(f"HTTP {self.http_status}")
        if self.certificate_id:
            parts.append(f"certificate {self.certificate_id}")
        if self.retry_after is not None:
            parts.append(f"retry after {self.retry_after:g}s")
        return redact_text(f"{', '.join(parts)}: {self.explanation}")


class TransportError(ZeroSSLError):
    """No usable HTTP answer: timeout, connection failure, TLS error. Always retryable."""

    def __init__(self, *, endpoint: str, message: str, certificate_id: str | None = None) -> None:
        super().__init__(
            ErrorKind.RETRYABLE, endpoint=endpoint, certificate_id=certificate_id, message=message
        )
